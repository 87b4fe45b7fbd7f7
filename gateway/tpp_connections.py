"""Open connections per TPP, capped right after the TLS handshake, when the TPP is first known.

The per-address cap acts at accept, before TLS, and cannot tell TPPs apart: one TPP may spread
its connections over many addresses, and many TPPs may share one (a cloud NAT). Once the
handshake is done the client certificate names the TPP, so each one may hold at most
``protection.max-connections-per-tpp`` open connections; the next is closed before aiohttp
reads a byte of it.

A TPP is keyed on the SHA-256 of its certificate (DER): available at once and for free, while
the organisation identifier is only trustworthy after the pipeline's validation. A TPP with two
QWACs therefore has two caps, which is fine for a cost cap.

A connection without a client certificate has no cap here: behind a trusted ingress
(``identity.source: ingress``) the TPP is known only per request, from a header, and in
sandbox mode a caller may have no certificate at all.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.log import get_logger

if TYPE_CHECKING:
    from gateway.protection_stats import ProtectionStats

# A TPP hammering its cap must not fill the log: one line per interval, with the count since.
LOG_EVERY_S = 10.0


def certificate_key(transport: asyncio.BaseTransport) -> bytes | None:
    """SHA-256 of the client certificate on this TLS connection; None without TLS or certificate."""
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return hashlib.sha256(der).digest() if der else None


class TppConnections:
    """Counts open connections per client certificate: ``admit`` after the handshake, ``release`` at close."""

    def __init__(
        self, limit: int, stats: ProtectionStats, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.stats = stats
        self.by_tpp: collections.Counter[bytes] = collections.Counter()
        self._clock = clock
        self._next_log = 0.0
        self._unlogged = 0

    def admit(self, key: bytes) -> bool:
        if self.by_tpp[key] >= self.limit:
            self.stats.refused_tpp_connections += 1
            self._report(key)
            return False
        self.by_tpp[key] += 1
        self.stats.tpp_connections += 1
        return True

    def release(self, key: bytes) -> None:
        self.stats.tpp_connections -= 1
        self.by_tpp[key] -= 1
        if self.by_tpp[key] <= 0:
            del self.by_tpp[key]

    def _report(self, key: bytes) -> None:
        self._unlogged += 1
        now = self._clock()
        if now < self._next_log:
            return
        self._next_log = now + LOG_EVERY_S
        get_logger().warning(
            "tpp_connection_cap",
            certificate_sha256=key.hex(),
            limit=self.limit,
            refused=self._unlogged,
            note=f"over the cap: closed after the handshake; logged at most every {LOG_EVERY_S:g} s",
        )
        self._unlogged = 0
