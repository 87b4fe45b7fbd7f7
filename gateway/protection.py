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
                        (gateway/admission.py)    max-queued waiting; beyond, 503 + Retry-After at
                                                  once, the body unread

Counters for all of them are plain integers on ``ProtectionStats`` (gateway/protection_stats.py),
read at scrape time.
"""

from __future__ import annotations

import asyncio
import collections
import resource
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from gateway import render
from gateway.errors import Code, Reject
from gateway.protection_stats import ProtectionStats
from gateway.settings import ProtectionSettings
from gateway.tpp_connections import TppConnections, certificate_key

# File descriptors kept free for the store, the core pool, log files and the ops listener.
_FD_HEADROOM = 256
_MALFORMED = "The request is not well-formed HTTP/1.1 or exceeds the gateway's size limits."


def handler_kwargs(settings: ProtectionSettings) -> dict[str, Any]:
    """aiohttp's own per-connection limits (``web.Server``/``RequestHandler`` keyword arguments)."""
    return {
        "max_line_size": settings.max_line_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
        "keepalive_timeout": settings.idle_timeout_s,
        "lingering_time": settings.lingering_s,
    }


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
