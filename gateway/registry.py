"""The TPP registry: what the bank knows about each TPP beyond its certificate.

One YAML file, keyed by the QWAC's organizationIdentifier::

    unknown-tpps: admit           # admit (any valid QWAC, as PSD2 requires) | pending | reject
    tpps:
      PSDBE-NBB-0123456789:
        name: Dev TPP Ltd
        status: active            # active | blocked | pending
        api-keys: [sha256:9f86d0...]   # SHA-256 of each key (plain keys are accepted for dev)
        client-ids: [dev-tpp-app]
        redirect-uris: [https://tpp.example/callback]
        roles: [PSP_AI, PSP_PI]   # as in the NCA register; intersected with the QWAC's roles

Without a registry file every TPP with a valid QWAC is admitted: PSD2 (RTS Art. 30, 34)
lets a bank rely on the eIDAS certificate alone. Reloaded when the file changes (checked on
a timer) and on SIGHUP; a file that fails to validate is refused and the previous registry
stays in force.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gateway.config import Where, build, doc, load_yaml
from gateway.eidas.oids import Role

Status = Literal["active", "blocked", "pending"]
Unknown = Literal["admit", "pending", "reject"]


@dataclass(frozen=True)
class TppEntry:
    name: str = doc("Display name (logs only).", default="")
    status: Status = doc(
        "active, blocked (CERTIFICATE_BLOCKED) or pending (not yet admitted).", default="active"
    )
    api_keys: list[str] = doc("API keys as 'sha256:<hex>' (or plain text, for development).", factory=list)
    client_ids: list[str] = doc("OAuth2 client ids registered for this TPP.", factory=list)
    redirect_uris: list[str] = doc(
        "Registered redirect URIs (exact, or a prefix ending in '*').", factory=list
    )
    roles: list[str] | None = doc("Roles in the NCA register; None: trust the certificate.", default=None)

    def __post_init__(self) -> None:
        for role in self.roles or ():
            Role.parse(role)

    @property
    def granted_roles(self) -> frozenset[Role] | None:
        return None if self.roles is None else frozenset(Role.parse(r) for r in self.roles)

    def accepts_api_key(self, presented: str) -> bool:
        digest = "sha256:" + hashlib.sha256(presented.encode()).hexdigest()
        return any(
            hmac.compare_digest(known.lower() if known.startswith("sha256:") else known, candidate)
            for known in self.api_keys
            for candidate in ((digest,) if known.startswith("sha256:") else (presented,))
        )

    def accepts_redirect(self, uri: str) -> bool:
        return any(uri.startswith(r[:-1]) if r.endswith("*") else uri == r for r in self.redirect_uris)


@dataclass(frozen=True)
class RegistryFile:
    unknown_tpps: Unknown = doc("What happens to a TPP not listed.", default="admit")
    tpps: dict[str, TppEntry] = doc("Entries by organizationIdentifier.", factory=dict)


@dataclass(frozen=True)
class Registry:
    entries: Mapping[str, TppEntry] = field(default_factory=dict)
    unknown_tpps: Unknown = "admit"
    source: str = "none"

    def lookup(self, organization_id: str) -> TppEntry | None:
        """The entry for a TPP; an unknown one is admitted, pending, or None (rejected)."""
        entry = self.entries.get(organization_id)
        if entry is None and self.unknown_tpps != "reject":
            return _ADMITTED if self.unknown_tpps == "admit" else _PENDING
        return entry


_ADMITTED = TppEntry(status="active")
_PENDING = TppEntry(status="pending")


class RegistryHolder:
    """The registry in force; replaced whole on reload, so a request sees one consistent view."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.current = load_registry(path) if path is not None else Registry()
        self._mtime = self._stat()

    def changed(self) -> bool:
        return self.path is not None and self._stat() != self._mtime

    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Reload when the file changed; raises ConfigError (old registry kept) when it is invalid."""
        mtime = self._stat()
        if self.path is None or (mtime == self._mtime and not force):
            return False
        self._mtime = mtime
        self.current = load_registry(self.path)
        return True

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime_ns if self.path is not None else 0.0
        except OSError:
            return 0.0


def load_registry(path: Path) -> Registry:
    raw = load_yaml(path) or {}
    parsed = build(RegistryFile, raw, Where(str(path)))
    tpps_where = Where(str(path)).key("tpps", raw)
    for org_id in parsed.tpps:
        if not org_id.startswith("PSD"):
            raise tpps_where.child(org_id).error(
                "keys are QWAC organizationIdentifiers like PSDBE-NBB-0123456789"
            )
    return Registry(parsed.tpps, parsed.unknown_tpps, str(path))
