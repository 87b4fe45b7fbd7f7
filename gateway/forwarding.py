"""What the gateway adds on the way to the core and back: the TPP identity, expiry warnings."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from gateway.eidas.oids import Role
from gateway.exchange import Exchange
from gateway.expiry import days_left, with_expiry_warning
from gateway.identity_forward import IdentityTokens, identity_headers

_MAX_CACHED = 10_000


class IdentityForwarding:
    def __init__(
        self,
        *,
        send_headers: bool = True,
        tokens: IdentityTokens | None = None,
        token_header: str = "X-PSD2GW-TPP-Identity",
        expiry_warning_days: int = 30,
        always_drop: Collection[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.send_headers = send_headers
        self.tokens = tokens
        self.token_header = token_header
        self.expiry_warning_days = expiry_warning_days
        self.always_drop = frozenset(name.lower() for name in always_drop)
        self.clock = clock
        # Per (certificate, roles): the same headers for every request on a known certificate.
        self._headers: dict[tuple[str, frozenset[Role]], dict[str, str]] = {}
        # Per certificate: from when on its answers carry the expiry warning.
        self._warn_from: dict[str, float] = {}

    def headers(self, ex: Exchange) -> dict[str, str]:
        """Identity headers for the core (the TPP's own spellings were stripped already)."""
        if ex.identity is None:
            return {}
        out = dict(self._identity_headers(ex)) if self.send_headers else {}
        if self.tokens is not None:
            out[self.token_header] = self.tokens.token(ex.identity, ex.roles)
        return out

    def _identity_headers(self, ex: Exchange) -> dict[str, str]:
        assert ex.identity is not None
        cache_key = (ex.identity.fingerprint_sha256, ex.roles)
        cached = self._headers.get(cache_key)
        if cached is None:
            if len(self._headers) >= _MAX_CACHED:
                self._headers.clear()
            cached = self._headers[cache_key] = identity_headers(ex.identity, ex.roles)
        return cached

    def warn_on_expiry(self, ex: Exchange, body: bytes, content_type: str) -> bytes:
        if ex.identity is None or not self.expiry_warning_days:
            return body
        warn_from = self._warn_from.get(ex.identity.fingerprint_sha256)
        if warn_from is None:
            if len(self._warn_from) >= _MAX_CACHED:
                self._warn_from.clear()
            not_after = ex.identity.tpp.not_after.timestamp()
            warn_from = self._warn_from[ex.identity.fingerprint_sha256] = (
                not_after - self.expiry_warning_days * 86_400
            )
        now = self.clock()
        if now < warn_from:
            return body
        days = days_left(ex.identity, now)
        if days >= self.expiry_warning_days:
            return body
        return with_expiry_warning(body, content_type, days)
