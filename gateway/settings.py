"""Gateway settings: one YAML file, every key also settable from the environment (12-factor).

``PSD2GW_<SECTION>__<KEY>`` overrides ``section.key`` (``PSD2GW_STORE__URL=redis://...``);
values are read as YAML scalars, so ``PSD2GW_LISTEN__PORT=9443`` is a number.
With no file at all the embedded default runs: dev PKI, in-memory store, built-in sandbox core.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from gateway.config import LocatedDict, Where, build, doc, load_yaml
from gateway.eidas.revocation import RevocationConfig

ENV_PREFIX = "PSD2GW_"
BUILTIN_SANDBOX = "builtin:sandbox"
MIB = 1024 * 1024


@dataclass(frozen=True)
class ListenSettings:
    host: str = doc("Address the TPP-facing HTTPS listener binds to.", default="127.0.0.1")
    port: int = doc("Port of the TPP-facing HTTPS listener.", default=8443, minimum=0, maximum=65535)
    backlog: int = doc("Listen backlog.", default=1024, minimum=1)


@dataclass(frozen=True)
class TlsSettings:
    cert: Path | None = doc("PEM certificate chain the gateway presents to TPPs.", default=None)
    key: Path | None = doc("PEM private key of that certificate.", default=None)
    client_ca: Path | None = doc(
        "PEM bundle of QTSP CAs trusted for TPP client certificates (issuing CAs may be anchors).",
        default=None,
    )
    enabled: bool = doc("Serve TLS (false only behind an ingress that terminates it).", default=True)
    require_client_cert: bool = doc("Reject handshakes without a client certificate.", default=True)
    handshake_timeout_s: float = doc("Drop a TLS handshake that takes longer.", default=10.0, minimum=0.1)


@dataclass(frozen=True)
class IngressSettings:
    header: str = doc(
        "Header in which the trusted ingress forwards the client certificate.",
        default="X-Forwarded-Client-Cert",
    )
    format: Literal["auto", "pem", "url-pem", "base64-der", "xfcc"] = doc(
        "Encoding of that header (auto detects PEM, URL-encoded PEM, base64 DER, Envoy XFCC).", default="auto"
    )
    trusted_proxies: list[str] = doc(
        "Addresses or CIDRs of the ingress proxies allowed to set it.", factory=list
    )

    def __post_init__(self) -> None:
        for network in self.trusted_proxies:
            ipaddress.ip_network(network, strict=False)


@dataclass(frozen=True)
class IdentityJwtSettings:
    enabled: bool = doc(
        "Also send the verified identity as a short-lived JWT signed by the gateway.", default=False
    )
    key: Path | None = doc("PEM private key (EC P-256 or RSA) that signs the identity JWT.", default=None)
    algorithm: Literal["ES256", "RS256", "PS256"] = doc("JWT signing algorithm.", default="ES256")
    issuer: str = doc("iss claim.", default="psd2-gateway")
    audience: str = doc("aud claim (the core).", default="bank-core")
    ttl_s: int = doc("Lifetime of an identity JWT.", default=60, minimum=5, maximum=3600)
    header: str = doc("Header that carries it to the core.", default="X-PSD2GW-TPP-Identity")

    def __post_init__(self) -> None:
        if self.enabled and self.key is None:
            raise ValueError("identity.jwt.key is required when identity.jwt.enabled is true")


@dataclass(frozen=True)
class IdentitySettings:
    source: Literal["tls", "ingress"] = doc(
        "tls: the gateway terminates mTLS; ingress: a trusted proxy forwards the certificate.", default="tls"
    )
    ingress: IngressSettings = field(default_factory=IngressSettings)
    trust_anchors: Path | None = doc("PEM bundle of trusted QTSP CAs (default: tls.client-ca).", default=None)
    intermediates: Path | None = doc(
        "PEM bundle of QTSP intermediate CAs that are not anchors.", default=None
    )
    strict_qc_statements: bool = doc(
        "Reject the malformed QCStatement encodings seen in the wild.", default=False
    )
    require_client_auth_eku: bool = doc("Require clientAuth in the QWAC's extended key usage.", default=False)
    cache_ttl_s: float = doc("Longest reuse of one certificate's verdict.", default=3600.0, minimum=1)
    expiry_warning_days: int = doc(
        "Warn TPPs in responses when their QWAC expires within this many days.", default=30, minimum=0
    )
    registry: Path | None = doc(
        "TPP registry YAML (status, API keys, client ids, redirect URIs, roles).", default=None
    )
    forward_headers: bool = doc(
        "Send the verified identity to the core in X-PSD2GW-TPP-* headers.", default=True
    )
    jwt: IdentityJwtSettings = field(default_factory=IdentityJwtSettings)
    revocation: RevocationConfig = field(default_factory=RevocationConfig)


@dataclass(frozen=True)
class UpstreamSettings:
    url: str = doc(
        f"Base URL of the bank core (http:// or https://), or {BUILTIN_SANDBOX!r} for the built-in sandbox.",
        default=BUILTIN_SANDBOX,
    )
    connect_timeout_s: float = doc(
        "Connect timeout to the core (502 when exceeded).", default=2.0, minimum=0.01
    )
    total_timeout_s: float = doc("Whole-exchange timeout with the core (504).", default=20.0, minimum=0.01)
    max_connections: int = doc("Keep-alive pool size towards the core.", default=256, minimum=1)
    max_response_bytes: int = doc(
        "Largest core response body accepted (502 above).", default=16 * MIB, minimum=1
    )
    ca: Path | None = doc(
        "PEM CA bundle that signs an https:// core's certificate (default: system).", default=None
    )
    client_cert: Path | None = doc(
        "PEM certificate the gateway presents to the core (mTLS to the core).", default=None
    )
    client_key: Path | None = doc("PEM private key of client-cert.", default=None)

    def __post_init__(self) -> None:
        if self.url != BUILTIN_SANDBOX and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"upstream.url must start with http:// or https:// (or be {BUILTIN_SANDBOX})")
        if self.total_timeout_s < self.connect_timeout_s:
            raise ValueError("upstream.total-timeout-s must not be shorter than upstream.connect-timeout-s")


@dataclass(frozen=True)
class StoreSettings:
    url: str = doc("memory://, redis://, rediss://, unix:// or redis+cluster:// URL.", default="memory://")
    budget_ms: int = doc(
        "Overall time budget of one store call (it includes waiting for a busy event loop, so keep a "
        "margin over Redis's own latency).",
        default=100,
        minimum=1,
        maximum=5000,
    )
    connect_timeout_ms: int = doc("TCP connect timeout towards Redis.", default=200, minimum=1)


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = doc(
        "Serve /metrics, /healthz and /readyz on a separate plain-HTTP listener.", default=True
    )
    host: str = doc("Address of the metrics listener (keep it off the TPP network).", default="127.0.0.1")
    port: int = doc("Port of the metrics listener.", default=9464, minimum=0, maximum=65535)


@dataclass(frozen=True)
class LifecycleSettings:
    drain_timeout_s: float = doc(
        "On SIGTERM, how long in-flight requests may take to finish.", default=20.0, minimum=0
    )
    watch_interval_s: float = doc(
        "How often policy and registry files are checked for changes.", default=2.0, minimum=0.1
    )
    workers: int = doc(
        "Gateway processes sharing the listening port (SO_REUSEPORT).", default=1, minimum=1, maximum=64
    )


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool = doc(
        "Sandbox mode: certificate and token checks relaxed, traffic to the built-in sandbox core. "
        "Never on unless set; the start-up log and the psd2gw_sandbox_mode metric say so.",
        default=False,
    )
    require_certificate: bool = doc("Still require a client certificate in sandbox mode.", default=False)
    tpp: str = doc(
        "organizationIdentifier of the TPP a caller without certificate is taken for.",
        default="PSDXX-SANDBOX-0000000000",
    )
    relax: list[str] = doc(
        "Policies skipped in sandbox mode (mandatory parameters are still checked by the others).",
        factory=lambda: ["oauth2-token", "qseal-signature", "redirect-uri", "api-key", "client-id"],
    )


@dataclass(frozen=True)
class AuditSettings:
    path: Path | None = doc(
        "JSON-lines file of sealed-request audit records (none: no audit trail).", default=None
    )


@dataclass(frozen=True)
class ProtectionSettings:
    """Limits on what one client, or all of them, may cost the gateway (``gateway.protection``)."""

    max_line_bytes: int = doc(
        "Longest request line (method, target, version); 400 above, before the rest is read.",
        default=8190,
        minimum=256,
    )
    max_header_bytes: int = doc("Longest header line (name and value); 400 above.", default=8190, minimum=256)
    max_headers: int = doc("Most header lines in one request; 400 above.", default=100, minimum=8)
    header_timeout_s: float = doc(
        "A connection must deliver a complete request head this soon after it opens (or after the "
        "first byte of a later request on a kept-alive connection); otherwise it is closed.",
        default=10.0,
        minimum=0.1,
    )
    body_min_rate_bps: int = doc(
        "Slowest accepted request body, in bytes per second averaged over each body-grace-s window "
        "(408 and the connection closed below it; 0: off).",
        default=500,
        minimum=0,
    )
    body_grace_s: float = doc(
        "Window over which body-min-rate-bps is measured; the first window is the grace period.",
        default=5.0,
        minimum=0.1,
    )
    idle_timeout_s: float = doc(
        "A kept-alive connection idle this long between requests is closed.", default=30.0, minimum=0.1
    )
    lingering_s: float = doc(
        "After answering a request whose body was not read (413, 503), discard the rest of the body "
        "for at most this long before closing, so the client can read the answer.",
        default=2.0,
        minimum=0,
    )
    max_connections: int = doc(
        "Open TPP connections per process, refused at accept above (lowered to fit the process's "
        "file descriptor limit).",
        default=8192,
        minimum=1,
    )
    max_handshakes: int = doc(
        "TLS handshakes in progress at once per process; new connections beyond are closed at accept "
        "(handshakes are the CPU-heaviest step: a flood of them must not starve admitted requests). "
        "While the event loop runs late the number allowed is lowered, down to 8, and it grows back "
        'within a second once the loop is on time (psd2gw_protection_current{what="handshake_limit"}).',
        default=256,
        minimum=1,
    )
    max_connections_per_ip: int = doc(
        "Open connections from one client address, refused at accept above, before the TLS handshake "
        "(0: no limit; behind an ingress every connection comes from the ingress).",
        default=256,
        minimum=0,
    )
    max_handshakes_per_ip: int = doc(
        "TLS handshakes in progress at once from one address; beyond, closed at accept (0: no "
        "limit; off in ingress mode). Without it, one address holding silent sockets could fill "
        "max-handshakes and block every other TPP's handshakes for handshake-timeout-s.",
        default=64,
        minimum=0,
    )
    max_connections_per_tpp: int = doc(
        "Open connections of one TPP (one client certificate, by its SHA-256) per process; a "
        "connection over it is closed right after its TLS handshake, before any request is read "
        "(0: no limit; a connection without a client certificate, as behind an ingress, has none).",
        default=256,
        minimum=0,
    )
    max_in_flight: int = doc(
        "Requests inside the pipeline at once per process; further ones wait in the queue.",
        default=512,
        minimum=1,
    )
    max_queued: int = doc(
        "Requests waiting for a pipeline slot; above, 503 with Retry-After at once, body unread.",
        default=512,
        minimum=0,
    )
    queue_timeout_s: float = doc(
        "Longest wait for a pipeline slot before 503 with Retry-After.", default=1.0, minimum=0
    )
    retry_after_s: int = doc("Retry-After (seconds) sent with an overload 503.", default=1, minimum=0)
    max_rss_mb: int = doc(
        "Resident memory ceiling: above it every new request gets 503 until memory is back below "
        "(0: off; sampled twice a second from /proc).",
        default=0,
        minimum=0,
    )


@dataclass(frozen=True)
class Settings:
    listen: ListenSettings = field(default_factory=ListenSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    upstreams: dict[str, UpstreamSettings] = doc(
        "Further cores by name, chosen by a policy file's profile (upstream: NAME).", factory=dict
    )
    store: StoreSettings = field(default_factory=StoreSettings)
    protection: ProtectionSettings = field(default_factory=ProtectionSettings)
    policies: list[Path] | Path = doc(
        "Directory (or list of directories) of policy YAML files: routes, profiles and policies.",
        default=Path("policies/berlin-group"),
    )
    dev_pki: Path = doc("Where the embedded default keeps its dev PKI.", default=Path("certs/dev"))
    max_body_bytes: int = doc("Largest request body accepted (413 above).", default=MIB, minimum=0)
    log_level: Literal["debug", "info", "warning", "error"] = doc("Log level.", default="info")
    log_hash_key: str = doc(
        "Key of the keyed hashes that stand for PSU-ID, PSU-Corporate-ID and Consent-ID in logs "
        "(set the same on every replica; empty: a random key per process).",
        default="",
    )
    source: str = doc("Where these settings came from (set by the loader).", default="defaults")


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (or none) with environment overrides applied on top."""
    environ = os.environ if environ is None else environ
    raw: Any = load_yaml(path) if path is not None else LocatedDict()
    if raw is None:
        raw = LocatedDict()
    source = str(path) if path is not None else "defaults"
    if not isinstance(raw, dict):
        raise Where(source).error("the settings file must be a mapping")
    _apply_environment(raw, environ)
    settings = build(Settings, raw, Where(source))
    return replace(settings, source=source)


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        keys = [part.lower().replace("_", "-") for part in name[len(ENV_PREFIX) :].split("__")]
        target = raw
        for part in keys[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise Where("environment", name).error(f"{part!r} is not a section")
        target[keys[-1]] = _env_value(name, text)


def _env_value(name: str, text: str) -> Any:
    try:
        return yaml.safe_load(text) if text else ""
    except (yaml.YAMLError, ValueError, OverflowError) as e:  # ValueError: e.g. the date 0000-01-01
        raise Where("environment", name).error("not a valid YAML scalar") from e
