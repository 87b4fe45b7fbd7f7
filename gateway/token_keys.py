"""The keys that verify bearer tokens: a JWKS file and PEM files, read once at load.

Keys are found by ``kid`` (JWKS entries that have one) or tried in turn (PEM files and
kid-less JWKs); each key verifies only the algorithms its type allows (RFC 7518) and, when
its JWK declares ``alg``, only that one (RFC 7517 section 4.4). Used by ``oauth2-token`` and
the Belfius SCA-Token check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import AllowedPublicKeys

_RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


@dataclass(frozen=True, slots=True)
class TokenKey:
    key: AllowedPublicKeys
    algorithms: frozenset[str]


class KeyRing:
    """The verification keys: by kid (from the JWKS), and without one (PEM files, kid-less JWKs)."""

    def __init__(self, named: Mapping[str, TokenKey], anonymous: Sequence[TokenKey]) -> None:
        self.named = dict(named)
        self.anonymous = tuple(anonymous)

    @classmethod
    def load(cls, jwks_file: Path | None, pem_files: Sequence[Path], allowed: frozenset[str]) -> KeyRing:
        """Read the key files once; any problem is a ValueError naming the file."""
        named, anonymous = _read_jwks(jwks_file, allowed) if jwks_file else ({}, [])
        anonymous += [_read_pem(path, allowed) for path in pem_files]
        if not named and not anonymous:
            raise ValueError("configure jwks-file or public-keys with at least one key for the algorithms")
        return cls(named, anonymous)

    def candidates(self, kid: str | None, alg: str) -> list[TokenKey]:
        keys = (self.named[kid],) if kid in self.named else self.anonymous
        return [k for k in keys if alg in k.algorithms]


def _read_jwks(path: Path, allowed: frozenset[str]) -> tuple[dict[str, TokenKey], list[TokenKey]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        key_set = jwt.PyJWKSet.from_dict(data)
    except (OSError, ValueError, jwt.PyJWTError) as e:
        raise ValueError(f"jwks-file {path}: cannot load: {e}") from e
    declared = {k.get("kid"): k.get("alg") for k in data.get("keys", []) if isinstance(k, dict)}
    named: dict[str, TokenKey] = {}
    anonymous: list[TokenKey] = []
    for jwk in key_set:
        if jwk.public_key_use not in (None, "sig") or not _is_public(jwk.key):
            continue
        algorithms = _algorithms_for(jwk.key) & allowed
        if declared.get(jwk.key_id):  # RFC 7517 section 4.4: a declared alg is the only one
            algorithms &= {declared[jwk.key_id]}
        if jwk.key_id:
            named[jwk.key_id] = TokenKey(jwk.key, algorithms)
        else:
            anonymous.append(TokenKey(jwk.key, algorithms))
    return named, anonymous


def _read_pem(path: Path, allowed: frozenset[str]) -> TokenKey:
    try:
        data = path.read_bytes()
        key: Any = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"-----BEGIN CERTIFICATE-----" in data
            else load_pem_public_key(data)
        )
    except (OSError, ValueError) as e:
        raise ValueError(f"public-keys {path}: cannot load a PEM public key: {e}") from e
    if not _is_public(key) or not _algorithms_for(key) & allowed:
        raise ValueError(f"public-keys {path}: the key fits none of the algorithms {sorted(allowed)}")
    return TokenKey(key, _algorithms_for(key) & allowed)


def _is_public(key: object) -> bool:
    return isinstance(
        key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    )


def _algorithms_for(key: object) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA
    if isinstance(key, ec.EllipticCurvePublicKey):
        return frozenset({_CURVES[key.curve.name]}) if key.curve.name in _CURVES else frozenset()
    return frozenset({"EdDSA"}) if _is_public(key) else frozenset()
