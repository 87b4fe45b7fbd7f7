"""The verified identity, passed on to the core in headers only the gateway sets.

The TPP's own spelling of these headers is stripped at the trust boundary (``headers``),
so what the core reads here is what the gateway verified. Optionally the same facts go as
a short-lived JWT signed by the gateway, for cores that want a verifiable token. Values are
ASCII: non-ASCII names are percent-encoded (RFC 3986), as header values must be.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.eidas.oids import Role
from gateway.errors import GatewayError
from gateway.identity import Identity
from gateway.settings import IdentityJwtSettings

PREFIX = "X-PSD2GW-TPP-"


def identity_headers(identity: Identity, roles: frozenset[Role]) -> dict[str, str]:
    tpp = identity.tpp
    return {
        PREFIX + "Organization-ID": _ascii(tpp.organization_id),
        PREFIX + "Organization-Name": _ascii(tpp.organization_name),
        PREFIX + "Roles": ",".join(sorted(r.value for r in roles)),
        PREFIX + "NCA-ID": _ascii(tpp.nca_id),
        PREFIX + "NCA-Name": _ascii(tpp.nca_name),
        PREFIX + "Certificate-SHA256": identity.fingerprint_sha256,
    }


class IdentityTokens:
    """Signs identity JWTs, reusing each one for half its lifetime (signing costs ~50 µs)."""

    def __init__(self, settings: IdentityJwtSettings, clock: Callable[[], float] = time.time) -> None:
        assert settings.key is not None
        self.settings = settings
        self.key = _load_key(settings.key)
        self.clock = clock
        self._cache: dict[tuple[str, frozenset[Role]], tuple[float, str]] = {}

    def token(self, identity: Identity, roles: frozenset[Role]) -> str:
        now = self.clock()
        cache_key = (identity.fingerprint_sha256, roles)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            return cached[1]
        token = self._sign(identity, roles, int(now))
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[cache_key] = (now + self.settings.ttl_s / 2, token)
        return token

    def _sign(self, identity: Identity, roles: frozenset[Role], now: int) -> str:
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(identity.certificate_der).digest()).rstrip(b"=")
        claims = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": identity.tpp.organization_id,
            "iat": now,
            "exp": now + self.settings.ttl_s,
            "roles": sorted(r.value for r in roles),
            "nca_id": identity.tpp.nca_id,
            "org_name": identity.tpp.organization_name,
            "cnf": {"x5t#S256": thumbprint.decode()},
        }
        return jwt.encode(claims, self.key, algorithm=self.settings.algorithm)  # type: ignore[arg-type]


def _load_key(path: Path) -> object:
    try:
        return load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as e:
        raise GatewayError(f"identity.jwt.key: cannot load {path}: {e}") from e


def _ascii(value: str) -> str:
    return quote(value, safe=" !#$&'()*+,-./:;=?@[]^_`{|}~")
