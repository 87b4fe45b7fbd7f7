"""One TPP connection: HTTP/1.1 parsed by llhttp, answered in order, bounded in size and time.

Why not aiohttp's server: on the full chain its request handler, request and response objects
and writer were 15-20% of the gateway's CPU, for features a PSD2 API does not use (streaming
responses, websockets, URL dispatch). llhttp (through httptools, the parser inside aiohttp and
uvicorn) does the parsing and its strict mode refuses every smuggling input in
tests/resilience/test_hostile_http.py; this module adds what llhttp leaves to its caller:

    request line, header line, trailer line and header     400, the connection closes
      count limits (gateway/http_head.py)
    duplicate singleton headers (Host, Content-Type, ...)  400, the connection closes
    Upgrade or CONNECT with a body                         400, the connection closes
    Upgrade without a body                                 answered as HTTP/1.1, then closed
    a head not complete header-timeout-s after it starts   closed (and counted)
    a body slower than body-min-rate-bps                   408, closed (and counted)
    a body over the limit                                  413; the rest is discarded for lingering-s
    idle between requests for idle-timeout-s               closed
    answers not read by the client for idle-timeout-s      aborted
    pipelining                                             answered in order; at most _MAX_QUEUED heads
                                                           and _QUEUED_BODY_BYTES of a queued body read ahead

Requests are handled one at a time per connection, by a task that lives while requests are
queued. A client that goes away does not cancel the request it sent (as in aiohttp): the core
may already be acting on it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

import httptools
from multidict import CIMultiDict

from gateway import render
from gateway.connection_deadline import ConnectionDeadline
from gateway.errors import Code, Reject
from gateway.http_head import HeadCollector, HeadRefused
from gateway.http_request import Answer, IncomingRequest, Reply
from gateway.http_response import UnsafeHeader, encode_response
from gateway.log import get_logger

if TYPE_CHECKING:
    from gateway.http_server import HttpServer
    from gateway.protection import Slot

Handler = Callable[[IncomingRequest], Awaitable[Reply]]

_MAX_QUEUED = 8  # requests parsed ahead of their answer before reading pauses
_QUEUED_BODY_BYTES = 64 * 1024  # body bytes read ahead for a request still queued
_MALFORMED = "The request is not well-formed HTTP/1.1 or exceeds the gateway's size limits."
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_IDLE, _HEAD = "idle", "head"


def error_reply(reject: Reject) -> Answer:
    return Answer(reject.status, render.error_headers(reject, CIMultiDict()), render.error_body(reject))


class TppConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer, slot: Slot) -> None:
        self._server = server
        self._settings = server.settings
        self._slot = slot
        self._transport: asyncio.Transport | None = None
        self._peer_ip = ""
        self._peer_certificate: bytes | None = None
        # The head being parsed.
        self._in_head = False
        self._head = HeadCollector(self._settings)
        # llhttp calls these directly: no hop through this object per header.
        self.on_url = self._head.url
        self.on_header = self._head.header
        self._line_bytes = 0
        self._in_trailers = False  # after the last chunk: trailer fields, buffered by llhttp like a head
        self._body_in_read = False
        self._upgraded = False  # an Upgrade request was parsed: nothing after it is read
        self._parser = httptools.HttpRequestParser(self)
        # Requests parsed and not yet answered; the one whose body is arriving; the one being handled.
        self._queue: collections.deque[IncomingRequest] = collections.deque()
        self._receiving: IncomingRequest | None = None
        self._current: IncomingRequest | None = None
        self._worker: asyncio.Task[None] | None = None
        self._broken: Reply | None = None  # the answer to an unparseable request, sent last
        self._closing = False  # no further request is read; close once the queue is answered
        self._deadline = ConnectionDeadline(self._expired)
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = self._body_mark = 0
        self._slow_body = False
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None

    # Connection events.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses
        # Called once the TLS handshake is done: the first moment the TPP is known.
        if not self._slot.admit_tpp(transport):
            transport.abort()  # over its TPP's cap: no byte is read; connection_lost releases the slot
            return
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer_ip = str(peer[0]) if peer else ""
        ssl_object = transport.get_extra_info("ssl_object")
        # Renegotiation is off (tls.py): the certificate the handshake verified stays the
        # connection's, so it is read once here, not once per request.
        self._peer_certificate = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self._server.connections.add(self)
        self._deadline.arm(_HEAD, self._settings.header_timeout_s)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._transport = None
        self._deadline.stop()
        self._stop_body_watch()
        self._slot.release()
        self._server.closed(self)
        gone = Reject(Code.FORMAT_ERROR, "The connection closed before the request body arrived.")
        for request in (self._receiving, *self._queue):
            if request is not None:
                request.fail(gone)
        self._queue.clear()
        self._receiving = None
        self._resume_writing_waiter()

    def data_received(self, data: bytes) -> None:
        if self._broken is not None or self._upgraded:
            return  # the parser stopped at an error or an upgrade; nothing more is read
        self._body_in_read = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade (h2c, websocket) is never honoured: the request is answered like any
            # other and the connection closes; what follows it is never parsed (a reader that
            # took the upgrade would see those bytes differently).
            self._upgraded = self._closing = True
            return
        except (httptools.HttpParserError, HeadRefused) as error:
            self._refuse_unparseable(error)
            return
        if self._in_head or self._in_trailers:
            self._count_head_line(data)
        elif (
            self._receiving is not None
            and self._body_timer is None
            and not self._receiving.waits_for_continue
        ):
            self._watch_body()

    def _count_head_line(self, data: bytes) -> None:
        """Bound a head (or trailer) line still arriving: llhttp buffers it whole before any callback."""
        newline = data.rfind(b"\n")
        if self._body_in_read:
            # The line began after body bytes of this read (where, llhttp does not say): count
            # from the next read; the slack is one read.
            self._line_bytes = 0
        elif newline < 0:
            self._line_bytes += len(data)
        else:
            self._line_bytes = len(data) - newline - 1
        limit = max(self._settings.max_line_bytes, self._settings.max_header_bytes)
        if self._line_bytes > limit:
            self._refuse_unparseable(HeadRefused("a request head line is too long"))
        elif self._in_head and self._deadline.kind != _HEAD:
            self._deadline.arm(_HEAD, self._settings.header_timeout_s)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._resume_writing_waiter()

    def _resume_writing_waiter(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # llhttp callbacks (httptools), in message order; on_url and on_header are the HeadCollector's.

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head.begin()
        if self._deadline.kind == _IDLE:
            self._deadline.disarm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._line_bytes = 0
        if self._deadline.kind == _HEAD:
            self._deadline.disarm()
        request = self._head.request(
            self._parser,
            peer_ip=self._peer_ip,
            peer_certificate=self._peer_certificate,
            body_limit=self._server.body_limit(),
        )
        if self._parser.should_upgrade() and (
            request.method == "CONNECT" or request.content_length or "Transfer-Encoding" in request.headers
        ):
            # llhttp ends an upgrade request at its head: a body would be parsed as a request.
            raise HeadRefused("an Upgrade or CONNECT request with a body")
        if _expects_continue(request):
            request.on_first_read = self._send_continue
        self._receiving = request
        if self._closing:
            request.fail(Reject(Code.FORMAT_ERROR, "The connection is closing."))
            return  # read to find the message's end, never answered
        self._queue.append(request)
        self._pace_reading()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve())

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        self._body_in_read = True
        self._in_trailers = False
        if self._receiving is not None:
            self._receiving.feed(body)
            if self._receiving is not self._current and self._receiving.buffered > _QUEUED_BODY_BYTES:
                self._pace_reading()

    def on_chunk_header(self) -> None:
        self._in_trailers = True  # until body bytes or the chunk's end show it was not the last

    def on_chunk_complete(self) -> None:
        self._in_trailers = False

    def on_message_complete(self) -> None:
        request, self._receiving = self._receiving, None
        self._in_trailers = False
        self._stop_body_watch()
        if request is not None:
            request.finish()
        if self._closing and self._worker is None:
            self._close()  # a discarded body has ended: the answer is out

    # Answering, in order.

    async def _serve(self) -> None:
        while self._queue and self._transport is not None:
            request = self._current = self._queue.popleft()
            self._pace_reading()
            reply = await self._handle(request)
            self._current = None
            if self._writable is not None:
                await self._client_reads()
            if self._lost():  # while the request was handled or the answer waited
                break
            self._write(request, reply)
        self._worker = None
        self._after_answers()

    def _pace_reading(self) -> None:
        """Read no further while too many requests, or too much of a queued body, wait.

        The body of the request being handled is read up to its limit; a queued request's
        only up to _QUEUED_BODY_BYTES, so a pipelining client holds at most that much more.
        """
        transport = self._transport
        if transport is None:
            return
        receiving = self._receiving
        behind = len(self._queue) >= _MAX_QUEUED or (
            receiving is not None
            and receiving is not self._current
            and receiving.buffered > _QUEUED_BODY_BYTES
        )
        if behind and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()
        elif not behind and self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _send_continue(self) -> None:
        """The handler reads the body: now the client may send it (RFC 9110 10.1.1)."""
        if self._transport is not None and self._receiving is not None:
            self._transport.write(_CONTINUE)
            if self._body_timer is None:
                self._watch_body()

    async def _client_reads(self) -> None:
        """Wait until the client reads its answers, for at most idle-timeout-s."""
        assert self._writable is not None
        stalled = asyncio.get_running_loop().call_later(self._settings.idle_timeout_s, self._abort_stalled)
        try:
            await self._writable
        finally:
            stalled.cancel()

    def _abort_stalled(self) -> None:
        get_logger().info("client_not_reading", peer=self._peer_ip)
        if self._transport is not None:
            self._transport.abort()

    async def _handle(self, request: IncomingRequest) -> Reply:
        try:
            return await self._server.handler(request)
        except Exception:
            get_logger().exception("request_failed")
            self._closing = True
            self._queue.clear()  # after a bug, nothing more is trusted to this connection
            failed = "The gateway failed to handle the request."
            return error_reply(Reject(Code.INTERNAL_SERVER_ERROR, failed, status=500))

    def _write(self, request: IncomingRequest, reply: Reply) -> None:
        assert self._transport is not None
        if not request.received or self._server.draining or not request.keep_alive:
            self._closing = True
        keep_alive = not (self._closing and not self._queue and self._broken is None)
        try:
            data = encode_response(
                reply.status,
                reply.headers,
                reply.body,
                keep_alive=keep_alive,
                http10=request.version == (1, 0),
                head_only=request.method == "HEAD",
            )
        except UnsafeHeader:
            get_logger().error("unsafe_response_header", status=reply.status)
            self._closing, self._broken = True, None
            self._queue.clear()
            failed = Reject(Code.INTERNAL_SERVER_ERROR, "The gateway failed to answer.", status=500)
            error = error_reply(failed)
            data = encode_response(error.status, error.headers, error.body, keep_alive=False)
        self._transport.write(data)

    def _after_answers(self) -> None:
        transport = self._transport
        if transport is None:
            return
        if self._broken is not None:
            broken = self._broken
            transport.write(encode_response(broken.status, broken.headers, broken.body, keep_alive=False))
            self._close()
        elif self._closing:
            if self._receiving is None or self._slow_body:
                self._close()
            else:  # let the client finish sending what it sent so it can read the answer
                self._deadline.arm("linger", self._settings.lingering_s)
        elif self._server.draining:
            self._close()
        elif self._in_head:
            if self._deadline.kind != _HEAD:
                self._deadline.arm(_HEAD, self._settings.header_timeout_s)
        else:
            self._deadline.arm(_IDLE, self._settings.idle_timeout_s)

    # Refusals and deadlines.

    def _refuse_unparseable(self, error: Exception) -> None:
        get_logger().debug("malformed_request", error=str(error))
        self._server.stats.malformed_requests += 1
        self._deadline.disarm()
        self._stop_body_watch()
        self._closing = True
        self._broken = error_reply(Reject(Code.FORMAT_ERROR, _MALFORMED, status=400, rule="http-parser"))
        # Requests parsed in the same read as the error are not answered: they may be the
        # visible half of a smuggling attempt. One already being handled is finished first.
        gone = Reject(Code.FORMAT_ERROR, _MALFORMED, status=400, rule="http-parser")
        for request in self._queue:
            request.fail(gone)
        self._queue.clear()
        if self._receiving is not None:
            self._receiving.fail(gone)
            self._receiving = None
        if self._worker is None:
            self._after_answers()

    def _expired(self, kind: str) -> None:
        if kind == _HEAD:
            if self._worker is not None or self._reading_paused:
                # The gateway, not the client, is behind: answers are still going out.
                self._deadline.arm(_HEAD, self._settings.header_timeout_s)
                return
            self._server.stats.head_timeouts += 1
        self._close()

    def _watch_body(self) -> None:
        if self._settings.body_min_rate_bps <= 0:
            return
        self._body_bytes = self._body_mark = 0
        grace = self._settings.body_grace_s
        self._body_timer = asyncio.get_running_loop().call_later(grace, self._check_body)

    def _stop_body_watch(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _check_body(self) -> None:
        self._body_timer = None
        request = self._receiving
        if request is None or self._transport is None:
            return
        window = self._settings.body_grace_s
        # Reading paused means the gateway, not the client, is behind: not the client's fault.
        arrived = self._body_bytes - self._body_mark
        if self._reading_paused or arrived >= self._settings.body_min_rate_bps * window:
            self._body_mark = self._body_bytes
            self._body_timer = asyncio.get_running_loop().call_later(window, self._check_body)
            return
        self._server.stats.slow_bodies += 1
        self._slow_body = self._closing = True
        rate = self._settings.body_min_rate_bps
        text = f"The request body arrived slower than {rate} bytes per second."
        request.fail(Reject(Code.FORMAT_ERROR, text, status=408, rule="body-rate"))
        if request is not self._current and request not in self._queue:
            self._close()  # already answered: only its body was still being discarded

    def _lost(self) -> bool:
        return self._transport is None

    def drain(self) -> None:
        """Shutting down: close now if idle, else after the answers in progress."""
        self._closing = True
        if self._worker is None:
            self._close()

    def abort(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        if self._transport is not None:
            self._transport.abort()

    def _close(self) -> None:
        self._deadline.stop()
        if self._transport is not None:
            self._transport.close()


def _expects_continue(request: IncomingRequest) -> bool:
    return request.version == (1, 1) and request.headers.get("Expect", "").lower() == "100-continue"
