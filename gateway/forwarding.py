"""What the gateway adds on the way to the core and back: the TPP identity, expiry warnings."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from gateway.exchange import Exchange
from gateway.expiry import days_left, with_expiry_warning
from gateway.identity_forward import IdentityTokens, identity_headers


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

    def headers(self, ex: Exchange) -> dict[str, str]:
        """Identity headers for the core (the TPP's own spellings were stripped already)."""
        if ex.identity is None:
            return {}
        out = identity_headers(ex.identity, ex.roles) if self.send_headers else {}
        if self.tokens is not None:
            out[self.token_header] = self.tokens.token(ex.identity, ex.roles)
        return out

    def warn_on_expiry(self, ex: Exchange, body: bytes, content_type: str) -> bytes:
        if ex.identity is None or not self.expiry_warning_days:
            return body
        days = days_left(ex.identity, self.clock())
        if days >= self.expiry_warning_days:
            return body
        return with_expiry_warning(body, content_type, days)
