"""What one client, or all of them together, may cost the gateway::

    at accept (listener)     ConnectionLimits     open connections per address and per process;
                                                  refused before the TLS handshake
    after the handshake      TppConnections       open connections per TPP (client certificate);
                                                  closed before a byte of them is read
    per connection           TppConnection        head size and time, body size and rate, idle
                        (gateway/http_connection.py)  time (see that module)
    per request (app)        Admission            at most max-in-flight requests in the pipeline and
                        (gateway/admission.py)    max-queued waiting; beyond, 503 + Retry-After at
                                                  once, the body unread

Counters for all of them are plain integers on ``ProtectionStats`` (gateway/protection_stats.py),
read at scrape time.
"""

from __future__ import annotations

import asyncio
import collections
import resource

from gateway.protection_stats import ProtectionStats
from gateway.settings import ProtectionSettings
from gateway.tpp_connections import TppConnections, certificate_key

# File descriptors kept free for the store, the core pool, log files and the ops listener.
_FD_HEADROOM = 256


class ConnectionLimits:
    """Counts open connections per address and per TPP.

    ``admit`` is called at accept, ``Slot.admit_tpp`` once the handshake is done, ``Slot.release`` at close.
    """

    def __init__(self, settings: ProtectionSettings, stats: ProtectionStats) -> None:
        self.per_ip = settings.max_connections_per_ip
        self.max_handshakes = settings.max_handshakes
        self.handshakes_per_ip = settings.max_handshakes_per_ip
        self.total = effective_max_connections(settings.max_connections)
        self.stats = stats
        self.by_ip: collections.Counter[str] = collections.Counter()
        self.tpps = TppConnections(settings.max_connections_per_tpp, stats)

    def admit(self, ip: str) -> Slot | None:
        if self.stats.open_connections >= self.total or (self.per_ip and self.by_ip[ip] >= self.per_ip):
            self.stats.refused_connections += 1
            return None
        self.by_ip[ip] += 1
        self.stats.open_connections += 1
        return Slot(self, ip)

    def _release(self, ip: str, tpp: bytes | None) -> None:
        self.stats.open_connections -= 1
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]
        if tpp is not None:
            self.tpps.release(tpp)


class Slot:
    """One admitted connection; released exactly once, whichever way the connection ends."""

    __slots__ = ("ip", "limits", "tpp")

    def __init__(self, limits: ConnectionLimits, ip: str) -> None:
        self.limits: ConnectionLimits | None = limits
        self.ip = ip
        self.tpp: bytes | None = None

    def admit_tpp(self, transport: asyncio.BaseTransport) -> bool:
        """After the handshake: count the connection against its TPP's cap; False when over it."""
        limits = self.limits
        if limits is None or not limits.tpps.limit:
            return True
        key = certificate_key(transport)
        if key is None:
            return True
        if not limits.tpps.admit(key):
            return False
        self.tpp = key
        return True

    def release(self) -> None:
        limits, self.limits = self.limits, None
        if limits is not None:
            limits._release(self.ip, self.tpp)


def effective_max_connections(configured: int) -> int:
    """Never accept so many connections that the process runs out of file descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - _FD_HEADROOM))
