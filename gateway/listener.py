"""Listening sockets: aiohttp's TCP site plus the TLS handshake deadline it does not expose.

A client that opens a TCP connection and never finishes the TLS handshake would otherwise
hold a socket for asyncio's default of 60 s; ``ssl_handshake_timeout`` bounds that.
"""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web


class TlsSite(web.TCPSite):
    """``web.TCPSite`` whose TLS handshakes must finish within ``handshake_timeout_s``."""

    __slots__ = ("_handshake_timeout_s",)

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        handshake_timeout_s: float,
        ssl_context: ssl.SSLContext,
        backlog: int,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, backlog=backlog, reuse_port=reuse_port)
        self._handshake_timeout_s = handshake_timeout_s

    async def start(self) -> None:
        # Same as TCPSite.start, plus ssl_handshake_timeout (aiohttp 3.x has no parameter for it).
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
            ssl_handshake_timeout=self._handshake_timeout_s,
        )
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    handshake_timeout_s: float = 10.0,
    backlog: int = 1024,
    shutdown_timeout_s: float = 20.0,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, int]:
    """Start ``app`` on ``host:port`` (0 = any free port); returns its runner and the bound port.

    ``shutdown_timeout_s`` is the drain: on cleanup the listener closes first, then in-flight
    requests get this long to finish. ``reuse_port`` lets several worker processes share a port.
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    site: web.TCPSite
    if ssl_context is None:
        site = web.TCPSite(runner, host, port, backlog=backlog, reuse_port=reuse_port)
    else:
        site = TlsSite(
            runner,
            host,
            port,
            handshake_timeout_s=handshake_timeout_s,
            ssl_context=ssl_context,
            backlog=backlog,
            reuse_port=reuse_port,
        )
    await site.start()
    return runner, site.port
