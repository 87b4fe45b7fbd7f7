"""Belfius-style ``SCA-Token``: a JWT (valid one hour, seed 002) proving the PSU just did SCA.

Where a bank issues such a token, it satisfies the "transactions older than 90 days only
shortly after SCA" rule by itself. Verified with the bank's keys (JWKS file or PEM keys,
asymmetric algorithms only); ``exp`` and ``iat`` are checked against the request's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jwt

from gateway.token_keys import KeyRing

ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"})


class ScaTokenVerifier:
    def __init__(self, jwks_file: Path | None, public_keys: Sequence[Path], max_age_s: int) -> None:
        self.keys = KeyRing.load(jwks_file, public_keys, ALGORITHMS)
        self.max_age_s = max_age_s

    def sca_time_ms(self, token: str, now_ms: int) -> int | None:
        """When the SCA happened (the token's ``iat``), or None when the token does not prove one."""
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg not in ALGORITHMS:
                return None
            for candidate in self.keys.candidates(header.get("kid"), alg):
                claims = jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[alg],
                    options={"require": ["exp", "iat"], "verify_exp": False, "verify_aud": False},
                )
                return self._fresh(claims, now_ms)
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        return None

    def _fresh(self, claims: dict[str, object], now_ms: int) -> int | None:
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            return None
        now = now_ms / 1000
        if now >= exp or now < iat - 60 or now - iat > self.max_age_s:
            return None
        return int(iat * 1000)
