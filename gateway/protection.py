"""What one client, or all of them together, may cost the gateway.

aiohttp bounds the size of a request head but not the time it takes, nor the pace of a body,
nor how many connections one address holds, nor how many requests run at once. These are::

    at accept (listener)     ConnectionLimits     open connections per address and per process;
                                                  refused before the TLS handshake
    after the handshake      TppConnections       open connections per TPP (client certificate);
                                                  closed before a byte of them is read
    per connection           GuardedRequestHandler  the request head must arrive within
                                                  header-timeout-s; a body slower than
                                                  body-min-rate-bps gets 408 and the connection closes
    per request (app)        Admission            at most max-in-flight requests in the pipeline and
                                                  max-queued waiting; beyond, 503 + Retry-After at
                                                  once, the body unread

Counters for all of them are plain integers on ``ProtectionStats``, read at scrape time.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway import render
from gateway.errors import Code, Reject
from gateway.settings import ProtectionSettings
from gateway.tpp_connections import TppConnections, certificate_key

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# File descriptors kept free for the store, the core pool, log files and the ops listener.
_FD_HEADROOM = 256
_RSS_SAMPLE_S = 0.5
_PAGE = resource.getpagesize()
_MALFORMED = "The request is not well-formed HTTP/1.1 or exceeds the gateway's size limits."


@dataclass
class ProtectionStats:
    refused_connections: int = 0
    refused_handshakes: int = 0
    refused_tpp_connections: int = 0
    handshake_failures: int = 0
    handshake_failure_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    head_timeouts: int = 0
    slow_bodies: int = 0
    shed: int = 0
    open_connections: int = 0
    tpp_connections: int = 0
    handshake_limit: int = 0
    in_flight: int = 0
    queued: int = 0


def handler_kwargs(settings: ProtectionSettings) -> dict[str, Any]:
    """aiohttp's own per-connection limits (``web.Server``/``RequestHandler`` keyword arguments)."""
    return {
        "max_line_size": settings.max_line_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
        "keepalive_timeout": settings.idle_timeout_s,
        "lingering_time": settings.lingering_s,
    }


# The handshake failures worth telling apart; any other OpenSSL reason is counted as "other",
# so a client cannot grow the label set.
HANDSHAKE_REASONS = frozenset(
    {
        "CERTIFICATE_VERIFY_FAILED",
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "UNSUPPORTED_PROTOCOL",
        "WRONG_VERSION_NUMBER",
        "NO_SHARED_CIPHER",
        "NO_PROTOCOLS_AVAILABLE",
        "HTTP_REQUEST",
        "UNEXPECTED_EOF_WHILE_READING",
        "VERSION_TOO_LOW",
        "NO_SUITABLE_SIGNATURE_ALGORITHM",
    }
)


def handshake_failure_reason(error: BaseException) -> str:
    """A bounded label for why a TLS handshake failed."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ssl.SSLError):
        reason = str(error.reason or "")
        return reason if reason in HANDSHAKE_REASONS else "other"
    if isinstance(error, ConnectionError):
        return "reset"
    return "other"


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


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler plus a request-head deadline and a minimum body rate.

    "Waiting for a request head" is aiohttp's own state: ``start()`` awaits ``_waiter`` for the
    next parsed message. A completed head increments ``_request_count``.
    """

    def __init__(
        self,
        manager: web.Server,
        *,
        settings: ProtectionSettings,
        stats: ProtectionStats,
        slot: Slot,
        **kw: Any,
    ) -> None:
        super().__init__(manager, **kw)
        self._settings = settings
        self._stats = stats
        self._slot = slot
        self._head_timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._body_mark = 0
        self._slow_body = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called once the TLS handshake is done: the first moment the TPP is known.
        if not self._slot.admit_tpp(transport):
            # Over its TPP's cap. aiohttp never sees the connection, and with the transport
            # aborted (no close_notify to wait for) no byte of it is ever read; connection_lost
            # still follows and releases the slot.
            self._force_close = True
            cast(asyncio.Transport, transport).abort()
            return
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        self._body = None
        self._slot.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._waiter is not None and not self._waiter.done():
            self._arm_head_deadline()  # first bytes of the next request on a kept-alive connection
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads:
            self._cancel_head_deadline()
            if self._messages:
                self._watch_body(self._messages[-1][1])
        elif self._body is not None:
            self._body_bytes += len(data)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if self._slow_body and isinstance(resp, web.StreamResponse):
            resp.force_close()
        result = await super().finish_response(request, resp, start_time)
        if self._slow_body:
            self.force_close()
        return result

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse (or a crash): a Berlin Group body, and the connection closes.

        aiohttp's own answer is text/plain naming its version, and it logs a traceback for every
        malformed request, which lets any client fill the log.
        """
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; no error response can follow")
        if status >= 500:
            self.log_exception("Error handling request", exc_info=exc)
            reject = Reject(
                Code.INTERNAL_SERVER_ERROR, "The gateway failed to handle the request.", status=500
            )
        else:
            self.log_debug("Malformed request", exc_info=exc)
            reject = Reject(Code.FORMAT_ERROR, _MALFORMED, status=status, rule="http-parser")
        response = web.Response(
            status=reject.status,
            headers=render.error_headers(reject, CIMultiDict()),
            body=render.error_body(reject),
        )
        response.force_close()
        return response

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        heads = self._request_count
        self._head_timer = self._loop.call_later(self._settings.header_timeout_s, self._head_expired, heads)

    def _cancel_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self, heads: int) -> None:
        self._head_timer = None
        if self._request_count == heads and self.transport is not None:
            self._stats.head_timeouts += 1
            self.force_close()

    def _watch_body(self, payload: Any) -> None:
        self._body = None
        if self._settings.body_min_rate_bps <= 0 or not isinstance(payload, StreamReader) or payload.is_eof():
            return
        self._body, self._body_bytes, self._body_mark = payload, 0, 0
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self._loop.call_later(self._settings.body_grace_s, self._check_body)

    def _check_body(self) -> None:
        self._body_timer = None
        body = self._body
        if body is None or body.is_eof() or self.transport is None:
            return
        window = self._settings.body_grace_s
        # Reading paused means the gateway, not the client, is behind: not the client's fault.
        if (
            self._reading_paused
            or self._body_bytes - self._body_mark >= self._settings.body_min_rate_bps * window
        ):
            self._body_mark = self._body_bytes
            self._body_timer = self._loop.call_later(window, self._check_body)
            return
        self._stats.slow_bodies += 1
        self._body = None
        if not self._request_in_progress:
            self.force_close()  # the answer is out already; aiohttp was only discarding the body
            return
        self._slow_body = True
        text = f"The request body arrived slower than {self._settings.body_min_rate_bps} bytes per second."
        body.set_exception(Reject(Code.FORMAT_ERROR, text, status=408, rule="body-rate"))


def guarded_handler_factory(
    server: web.Server, settings: ProtectionSettings, stats: ProtectionStats
) -> Callable[[Slot], GuardedRequestHandler]:
    """``factory(slot)`` -> the protocol for one admitted connection of ``server``."""
    loop = asyncio.get_running_loop()
    kwargs = {**handler_kwargs(settings), "access_log": None}

    def factory(slot: Slot) -> GuardedRequestHandler:
        return GuardedRequestHandler(server, loop=loop, settings=settings, stats=stats, slot=slot, **kwargs)

    return factory


class Admission:
    """At most ``max_in_flight`` requests in the pipeline; ``max_queued`` wait; the rest get 503 at once.

    The fast path is a counter. Only a request that has to wait creates a future.
    """

    def __init__(self, settings: ProtectionSettings, stats: ProtectionStats) -> None:
        self.max_in_flight = settings.max_in_flight
        self.max_queued = settings.max_queued
        self.queue_timeout_s = settings.queue_timeout_s
        self.max_rss = settings.max_rss_mb * 1024 * 1024
        self.stats = stats
        self.over_memory = False
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reject = Reject(
            Code.SERVICE_UNAVAILABLE,
            "The gateway is overloaded; retry after the time in Retry-After.",
            status=503,
            headers={"Retry-After": str(settings.retry_after_s)},
            rule="admission",
        )
        self._body = render.error_body(self._reject)

    def wrap(self, handler: Handler) -> Handler:
        async def admitted(request: web.Request) -> web.StreamResponse:
            if not self._enter_now() and not await self._wait_turn():
                return self.shed(request)
            try:
                return await handler(request)
            finally:
                self._leave()

        return admitted

    def _enter_now(self) -> bool:
        if self.stats.in_flight < self.max_in_flight and not self._waiting and not self.over_memory:
            self.stats.in_flight += 1
            return True
        return False

    async def _wait_turn(self) -> bool:
        """Queue for a slot; True once ``_leave`` has handed one over (counted in ``in_flight``)."""
        if self.over_memory or self.stats.queued >= self.max_queued:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self.stats.queued += 1
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await turn
        except TimeoutError:
            return self._handed_over(turn)
        except asyncio.CancelledError:
            if self._handed_over(turn):
                self._leave()
            raise
        finally:
            self.stats.queued -= 1
        return True

    def _handed_over(self, turn: asyncio.Future[None]) -> bool:
        if turn.done() and not turn.cancelled():
            return True  # the slot arrived just as the wait ended
        turn.cancel()
        return False

    def _leave(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the first waiter
                return
        self.stats.in_flight -= 1

    def shed(self, request: web.BaseRequest) -> web.Response:
        self.stats.shed += 1
        headers = render.error_headers(self._reject, CIMultiDict())
        request_id = request.headers.get("X-Request-ID", "")
        if 0 < len(request_id) <= 64:
            headers["X-Request-ID"] = request_id
        return web.Response(status=503, headers=headers, body=self._body)

    async def running(self, _app: web.Application) -> AsyncIterator[None]:
        """Cleanup context: sample resident memory while the app runs (when a ceiling is set)."""
        task = asyncio.create_task(self._watch_memory()) if self.max_rss else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch_memory(self) -> None:
        while (rss := resident_bytes()) is not None:
            self.over_memory = rss > self.max_rss
            await asyncio.sleep(_RSS_SAMPLE_S)
        self.over_memory = False


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc``; None elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class ProtectionCollector(Collector):
    """The protection counters, read at scrape time."""

    EVENTS = (
        "refused_connections",
        "refused_handshakes",
        "refused_tpp_connections",
        "handshake_failures",
        "head_timeouts",
        "slow_bodies",
        "shed",
    )
    GAUGES = ("open_connections", "tpp_connections", "handshake_limit", "in_flight", "queued")

    def __init__(self, stats: ProtectionStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        events = CounterMetricFamily(
            "psd2gw_protection_events",
            "Connections refused at accept, handshakes refused at accept, connections over their "
            "TPP's cap closed after the handshake, failed TLS handshakes, request heads too slow, "
            "bodies too slow (408), requests shed (503).",
            labels=["event"],
        )
        for name in self.EVENTS:
            events.add_metric([name], getattr(self.stats, name))
        yield events
        current = GaugeMetricFamily(
            "psd2gw_protection_current",
            "Open TPP connections, of them those counted against a per-TPP cap (client certificate "
            "on the connection), TLS handshakes allowed in progress now (max-handshakes, lower "
            "while the event loop runs late), requests in the pipeline, requests queued.",
            labels=["what"],
        )
        for name in self.GAUGES:
            current.add_metric([name], getattr(self.stats, name))
        yield current
        handshakes = CounterMetricFamily(
            "psd2gw_tls_handshake_failures",
            "Failed TLS handshakes with TPPs, by reason (OpenSSL's, bounded; 'timeout', 'reset', 'other').",
            labels=["reason"],
        )
        for reason, count in sorted(self.stats.handshake_failure_reasons.items()):
            handshakes.add_metric([reason], count)
        yield handshakes
