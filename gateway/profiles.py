"""Profiles: how one brand or bank dialect faces TPPs, declared once per policy file.

profile:
  name: belfius
  hosts: [psd2.b2b.belfius.be]         # this file's routes serve only these hosts
  upstream: default                    # a core from the settings' `upstreams`
  errors: belfius                      # berlin-group | problem-json | belfius
  error-codes:                         # Berlin Group code -> the dialect's values
    FORMAT_ERROR: {error: invalid_request, error-code: "400.001"}
  core-errors: translate               # pass | translate (re-render, never leak)
  core-dialect: berlin-group           # how the core writes its errors
  response-content-type: application/vnd.belfius.api+json; version=2
  core-path: {strip-prefix: "", add-prefix: ""}
  timeouts: {connect-s: 2, total-s: 20}
  headers:                             # see gateway.translate for the order they apply in
    request:  {remove: [], rename: {}, set: {}, default: {}}
    response: {remove: [], rename: {}, set: {}, echo: {}, allow: []}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gateway.config import doc
from gateway.core_headers import CoreHeaders
from gateway.dialects import Dialect, DialectName, make_dialect
from gateway.errors import Code
from gateway.registry import RegistryHolder
from gateway.translate import HeaderRules, ResponseHeaders


@dataclass(frozen=True)
class CorePath:
    strip_prefix: str = doc("Removed from the start of the path before forwarding.", default="")
    add_prefix: str = doc("Added in front of the path before forwarding.", default="")

    def __post_init__(self) -> None:
        for prefix in (self.strip_prefix, self.add_prefix):
            if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
                raise ValueError("path prefixes start with '/' and do not end with '/'")


@dataclass(frozen=True)
class Timeouts:
    connect_s: float | None = doc("Connect timeout for these routes.", default=None, minimum=0.01)
    total_s: float | None = doc("Whole-exchange timeout for these routes.", default=None, minimum=0.01)


@dataclass(frozen=True)
class ProfileSpec:
    name: str = doc("Profile name: a metrics label and log field.", default="berlin-group")
    hosts: list[str] = doc("Hosts whose requests these routes serve (empty: any host).", factory=list)
    upstream: str = doc("Which configured core serves these routes.", default="default")
    errors: DialectName = doc("Error dialect towards the TPP.", default="berlin-group")
    error_codes: dict[str, dict[str, str]] = doc("Berlin Group code -> dialect values.", factory=dict)
    core_errors: Literal["pass", "translate"] = doc(
        "Pass core errors through, or re-render them.", default="pass"
    )
    core_dialect: DialectName = doc("The core's own error dialect.", default="berlin-group")
    response_content_type: str = doc(
        "Content-Type of JSON answers to the TPP (empty: the core's).", default=""
    )
    core_path: CorePath = field(default_factory=CorePath)
    timeouts: Timeouts = field(default_factory=Timeouts)
    headers: HeaderRules = field(default_factory=HeaderRules)
    registry: Path | None = doc(
        "This brand's own TPP registry (status, keys, client ids); default: the gateway's "
        "(identity.registry). Reloaded with the policies.",
        default=None,
    )

    def __post_init__(self) -> None:
        for code, values in self.error_codes.items():
            Code(code)  # ValueError names an unknown Berlin Group code
            unknown = set(values) - {"error", "error-code"}
            if unknown:
                raise ValueError(f"error-codes.{code}: unknown field {sorted(unknown)[0]!r}")


@dataclass(frozen=True, slots=True)
class Profile:
    """A compiled profile: everything per request is a lookup or a prebuilt function."""

    name: str
    hosts: frozenset[str]
    upstream: str
    dialect: Dialect
    core_dialect: Dialect
    translate_core_errors: bool
    response_content_type: str
    strip_prefix: str
    add_prefix: str
    connect_timeout_s: float | None
    total_timeout_s: float | None
    request_headers: CoreHeaders
    response_headers: ResponseHeaders
    registry: RegistryHolder | None = None

    def core_target(self, path: str, query: str) -> str:
        if self.strip_prefix and (path == self.strip_prefix or path.startswith(self.strip_prefix + "/")):
            path = path[len(self.strip_prefix) :] or "/"
        path = self.add_prefix + path
        return f"{path}?{query}" if query else path


def compile_profile(spec: ProfileSpec) -> Profile:
    return Profile(
        name=spec.name,
        hosts=frozenset(h.lower() for h in spec.hosts),
        upstream=spec.upstream,
        dialect=make_dialect(spec.errors, spec.error_codes),
        core_dialect=make_dialect(spec.core_dialect, spec.error_codes),
        translate_core_errors=spec.core_errors == "translate",
        response_content_type=spec.response_content_type,
        strip_prefix=spec.core_path.strip_prefix,
        add_prefix=spec.core_path.add_prefix,
        connect_timeout_s=spec.timeouts.connect_s,
        total_timeout_s=spec.timeouts.total_s,
        request_headers=CoreHeaders(spec.headers.request),
        response_headers=ResponseHeaders(spec.headers.response),
        registry=RegistryHolder(spec.registry) if spec.registry is not None else None,
    )


DEFAULT_PROFILE = compile_profile(ProfileSpec())
