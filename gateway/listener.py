"""Listening sockets. The TPP-facing one accepts connections itself, so it can refuse early.

asyncio's ``create_server`` hands a TLS connection to the application only once the handshake
is done, so a flood of connections that never finish it holds file descriptors unseen. Here
every accepted socket is first counted against ``ConnectionLimits`` (per address, per
process) and closed at once when over; only admitted sockets start TLS, whose handshake must
finish within ``handshake_timeout_s`` (asyncio's default would be 60 s). How many handshakes
may be in progress follows the event loop's punctuality (``HandshakePace``).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import functools
import socket
import ssl
from collections.abc import Callable

from aiohttp import web

from gateway.http_connection import Handler
from gateway.http_server import HttpServer
from gateway.log import get_logger
from gateway.protection import ConnectionLimits, Slot
from gateway.protection_stats import ProtectionStats, handshake_failure_reason
from gateway.settings import ProtectionSettings

_ACCEPTS_PER_WAKEUP = 128
# Out of descriptors or buffers: stop accepting for a moment rather than spin (as asyncio does).
_ACCEPT_PAUSE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_PAUSE_S = 1.0
# The operator listener's in-flight scrapes get this long on shutdown (it closes after the TPPs').
_OPERATOR_DRAIN_S = 20.0
# Handshakes are the CPU-heaviest step, and the loop runs every ready handshake step before it
# gets back to a request on an established connection. Measured on 2 cores under a handshake
# flood (tests/resilience/test_handshake_flood.py): with a fixed cap of 256, about 200 were in
# progress, loop turns took 150-370 ms, and an established keep-alive TPP got 10-17 answers in
# 5 s. A fixed cap cannot know what a handshake costs (key type, CPU, contention), and a low one
# would let a few silent sockets block every new handshake; how late a timer fires measures the
# cost. So the cap is max-handshakes while a heartbeat every _HEARTBEAT_S fires on time, halves
# each time it fires more than _LATE_S late, and grows back by _PACE_STEP per punctual beat
# (from the floor to 256 in under a second). Same flood, paced: 250-1000 answers in 5 s, and as
# many handshakes completed per second as before; the excess is closed at accept and counted.
_HEARTBEAT_S = 0.025
_LATE_S = 0.025
_PACE_FLOOR, _PACE_STEP = 8, 8


class HandshakePace:
    """The number of TLS handshakes that may be in progress now (AIMD on the event loop's lateness)."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, ceiling: int, stats: ProtectionStats, *, paced: bool
    ) -> None:
        self.ceiling = ceiling
        self.stats = stats
        self._loop = loop
        self._set(ceiling)
        self._timer: asyncio.Handle | None = loop.call_soon(self._beat, loop.time()) if paced else None

    def _set(self, limit: int) -> None:
        self.limit = self.stats.handshake_limit = limit

    def _beat(self, due: float) -> None:
        now = self._loop.time()
        if now - due > _LATE_S:
            self._set(max(min(_PACE_FLOOR, self.ceiling), self.limit // 2))
        else:
            self._set(min(self.ceiling, self.limit + _PACE_STEP))
        self._timer = self._loop.call_at(now + _HEARTBEAT_S, self._beat, now + _HEARTBEAT_S)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class Acceptor(asyncio.AbstractServer):
    """Accepts on ``sock``; admitted connections get their own TLS handshake and request handler."""

    def __init__(
        self,
        sock: socket.socket,
        protocol: Callable[[Slot], asyncio.Protocol],
        limits: ConnectionLimits,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout_s: float,
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self._limits = limits
        self._ssl_context = ssl_context
        self._handshake_timeout_s = handshake_timeout_s if ssl_context is not None else None
        self._loop = asyncio.get_running_loop()
        self._handshakes: set[asyncio.Task[None]] = set()
        self._handshaking: collections.Counter[str] = collections.Counter()  # by address
        # Without TLS a connection is ready at once: nothing to pace.
        self._pace = HandshakePace(
            self._loop, limits.max_handshakes, limits.stats, paced=ssl_context is not None
        )
        self._serving = True
        self._loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._serving else ()

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKEUP):
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:
                if e.errno in _ACCEPT_PAUSE_ERRNOS and self._serving:
                    get_logger().warning("accept_paused", error=e.strerror, seconds=_ACCEPT_PAUSE_S)
                    self._loop.remove_reader(self._sock.fileno())
                    self._loop.call_later(_ACCEPT_PAUSE_S, self._resume)
                return
            ip = str(address[0])
            per_ip = self._limits.handshakes_per_ip
            if len(self._handshakes) >= self._pace.limit or (per_ip and self._handshaking[ip] >= per_ip):
                self._limits.stats.refused_handshakes += 1
                conn.close()
                continue
            slot = self._limits.admit(ip)
            if slot is None:
                conn.close()
                continue
            conn.setblocking(False)
            task = self._loop.create_task(self._start(conn, slot))
            self._handshakes.add(task)
            self._handshaking[ip] += 1
            task.add_done_callback(functools.partial(self._handshake_done, ip))

    def _handshake_done(self, ip: str, task: asyncio.Task[None]) -> None:
        self._handshakes.discard(task)
        self._handshaking[ip] -= 1
        if self._handshaking[ip] <= 0:
            del self._handshaking[ip]

    def _resume(self) -> None:
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    async def _start(self, conn: socket.socket, slot: Slot) -> None:
        try:
            await self._loop.connect_accepted_socket(
                lambda: self._protocol(slot),
                conn,
                ssl=self._ssl_context,
                ssl_handshake_timeout=self._handshake_timeout_s,
            )
        except asyncio.CancelledError:
            slot.release()  # the transport, which owns the socket now, has closed it
            raise
        except Exception as error:  # a failed or timed-out handshake; closed as above
            stats = self._limits.stats
            stats.handshake_failures += 1
            stats.handshake_failure_reasons[handshake_failure_reason(error)] += 1
            slot.release()

    def close(self) -> None:
        if not self._serving:
            return
        self._serving = False
        self._pace.close()
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for task in list(self._handshakes):
            task.cancel()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        return None

    async def serve_forever(self) -> None:
        raise NotImplementedError

    async def wait_closed(self) -> None:
        if self._handshakes:
            await asyncio.wait(list(self._handshakes))


class GuardedSite(web.BaseSite):
    """The TPP listener: an ``Acceptor`` (connection limits, TLS handshake deadline) feeding the
    gateway's own HTTP/1.1 connections (``HttpServer``). The aiohttp runner keeps the app's
    lifecycle (startup, cleanup contexts); stopping the site drains the connections.
    """

    __slots__ = (
        "_bound_port",
        "_drain_s",
        "_handshake_timeout_s",
        "_host",
        "_http",
        "_port",
        "_protection",
        "_reuse_port",
        "_stats",
    )

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        protection: ProtectionSettings,
        stats: ProtectionStats,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout_s: float,
        backlog: int,
        http: HttpServer,
        drain_s: float,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host, self._port, self._bound_port = host, port, port
        self._protection, self._stats = protection, stats
        self._handshake_timeout_s = handshake_timeout_s
        self._http, self._drain_s = http, drain_s
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._bound_port}"

    @property
    def port(self) -> int:
        return self._bound_port

    async def start(self) -> None:
        await super().start()
        sock = listening_socket(self._host, self._port, self._backlog, self._reuse_port)
        self._bound_port = sock.getsockname()[1]
        limits = ConnectionLimits(self._protection, self._stats)
        self._server = Acceptor(
            sock, self._http.connection, limits, self._ssl_context, self._handshake_timeout_s
        )

    async def stop(self) -> None:
        """Stop accepting, then drain: requests in progress get the drain time to finish."""
        if self._server is not None:
            self._server.close()
        await self._http.shutdown(self._drain_s)
        await super().stop()


def listening_socket(host: str, port: int, backlog: int, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start ``app`` (the operator listener: metrics, health) on aiohttp's plain ``TCPSite``.

    Returns its runner and the bound port (0 = any free port). Each worker has its own port.
    """
    runner = await _runner(app, _OPERATOR_DRAIN_S)
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site.port


async def serve_tpps(
    app: web.Application,
    host: str,
    port: int,
    *,
    handler: Handler,
    body_limit: Callable[[], int],
    protection: ProtectionSettings,
    stats: ProtectionStats,
    ssl_context: ssl.SSLContext | None = None,
    handshake_timeout_s: float = 10.0,
    backlog: int = 1024,
    shutdown_timeout_s: float = 20.0,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, int]:
    """Start the TPP listener: every request goes to ``handler`` through the gateway's own HTTP/1.1
    connections (``gateway.http_connection``); ``app`` keeps the lifecycle (startup, cleanup
    contexts). Returns its runner and the bound port (0 = any free port).
    """
    runner = await _runner(app, shutdown_timeout_s)
    site = GuardedSite(
        runner,
        host,
        port,
        protection=protection,
        stats=stats,
        ssl_context=ssl_context,
        handshake_timeout_s=handshake_timeout_s,
        backlog=backlog,
        http=HttpServer(handler, protection, stats, body_limit),
        drain_s=shutdown_timeout_s,
        reuse_port=reuse_port,
    )
    await site.start()
    return runner, site.port


async def _runner(app: web.Application, shutdown_timeout_s: float) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    return runner
