"""What every connection of one TPP listener shares: the handler, the limits, and the drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.http_connection import Handler, TppConnection
from gateway.protection import Slot
from gateway.protection_stats import ProtectionStats
from gateway.settings import ProtectionSettings


class HttpServer:
    """Creates the connections of one listener and drains them on shutdown.

    ``body_limit()`` is the largest body any route accepts: a body is never buffered past it,
    whatever its route (which is known only once the pipeline has run its first steps).
    """

    def __init__(
        self,
        handler: Handler,
        settings: ProtectionSettings,
        stats: ProtectionStats,
        body_limit: Callable[[], int],
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.stats = stats
        self.body_limit = body_limit
        self.connections: set[TppConnection] = set()
        self.draining = False
        self._drained = asyncio.Event()

    def connection(self, slot: Slot) -> TppConnection:
        return TppConnection(self, slot)

    def closed(self, connection: TppConnection) -> None:
        self.connections.discard(connection)
        if self.draining and not self.connections:
            self._drained.set()

    async def shutdown(self, timeout_s: float) -> None:
        """Close idle connections now; answer the requests in progress for at most ``timeout_s``."""
        self.draining = True
        for connection in list(self.connections):
            connection.drain()
        if self.connections:
            try:
                await asyncio.wait_for(self._drained.wait(), timeout_s)
            except TimeoutError:
                for connection in list(self.connections):
                    connection.abort()
