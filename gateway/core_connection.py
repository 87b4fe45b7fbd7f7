"""One keep-alive HTTP/1.1 connection to the bank core: write a request, collect its answer.

Parsing is llhttp's, through httptools (the parser aiohttp itself is built on), so framing is as
strict as before: conflicting ``Content-Length``/``Transfer-Encoding``, bad chunk sizes, bad
status lines and control characters in header values are parse errors. What this module adds is
what a proxy needs on top: bounded head and body, an answer that ends early is never complete,
and a connection is reused only when its answer was framed and fully read.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httptools

_MAX_HEADERS = 128


class CoreAnswerInvalid(Exception):
    """The core's answer is malformed, truncated or over a limit: the TPP gets 502."""


class CoreAnswer:
    """A parsed answer: status, raw header pairs (in order), body bytes."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class CoreConnection(asyncio.Protocol):
    """An asyncio protocol that carries one request at a time; the pool decides reuse."""

    def __init__(self, *, max_head_bytes: int, max_field_bytes: int, max_body_bytes: int) -> None:
        self.max_head_bytes = max_head_bytes
        self.max_field_bytes = max_field_bytes
        self.max_body_bytes = max_body_bytes
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[CoreAnswer] | None = None
        self._parser: Any = None
        self._head_only = False

    # -- used by the pool -------------------------------------------------------------------

    def send(self, data: bytes, *, head_only: bool) -> asyncio.Future[CoreAnswer]:
        """Write one request; the future resolves with its answer or fails with CoreAnswerInvalid."""
        assert self.transport is not None and (self._waiter is None or self._waiter.done())
        self._waiter = asyncio.get_running_loop().create_future()
        self._head_only = head_only
        if self._parser is None:
            # One parser per connection: llhttp reads the next answer where the last one
            # ended, and a connection is only reused after a complete answer.
            self._parser = httptools.HttpResponseParser(self)
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._headers_done = False
        self._framed = False  # Content-Length or Transfer-Encoding: the end is known without a close
        self._chunks: list[bytes] = []
        self._size = 0
        self.reusable = False
        self.transport.write(data)
        return self._waiter

    def time_out(self) -> None:
        """The answer is overdue: fail the request with TimeoutError and drop the connection."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            # Bytes nobody asked for (an unsolicited answer, or more after a complete one):
            # this connection's framing can no longer be trusted.
            self.abort()
            return
        if not self._headers_done:
            # httptools gathers a header line in memory however long it is: bound what it is fed.
            if self._head_bytes > self.max_head_bytes:
                self._fail("The bank system's answer head is too large.")
                return
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail("The bank system switched protocols.")
        except httptools.HttpParserError as e:
            cause = e.__context__  # what one of our callbacks raised, if it was one
            self._fail(str(cause) if isinstance(cause, CoreAnswerInvalid) else f"Malformed answer: {e}")

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost decides whether the answer is complete

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._headers_done and not self._framed and not self._head_only:
            # Delimited by the close (RFC 9112 6.3 rule 8): a clean FIN is its end.
            self._complete()
        else:
            self._fail("The bank system closed the connection before its answer was complete.")

    # -- httptools callbacks (names fixed by httptools) ---------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            # Another answer in the same bytes as the one delivered: unsolicited, like any byte
            # after it, and its headers must not join the delivered answer's.
            raise CoreAnswerInvalid("The bank system sent an answer nobody asked for.")

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > self.max_field_bytes:
            raise CoreAnswerInvalid("A header of the bank system's answer is too large.")
        # llhttp's strict mode refuses these already; kept so that no parser leniency (a flag,
        # a version) can let a value carry a line of its own to the TPP.
        if b"\r" in value or b"\n" in value or b"\x00" in value:
            raise CoreAnswerInvalid("A header of the bank system's answer has control characters.")
        if len(self._headers) >= _MAX_HEADERS:
            raise CoreAnswerInvalid("The bank system's answer has too many headers.")
        lowered = name.lower()
        if lowered == b"content-length" or lowered == b"transfer-encoding":
            self._framed = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if 100 <= self._status < 200:
            return  # an interim answer: the final one follows on the same connection
        self._headers_done = True
        if self._head_only:
            # A HEAD answer has no body whatever it declares; httptools cannot be told so, so
            # the answer ends here and the connection is not reused.
            self._complete(reusable=False)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body_bytes:
            raise CoreAnswerInvalid("The bank system's answer is too large.")
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._headers = []
            self._head_bytes = 0
            return
        if self._waiter is not None and not self._waiter.done():
            self._complete(reusable=self._parser.should_keep_alive())

    # -- internals ------------------------------------------------------------------------

    def _complete(self, *, reusable: bool = False) -> None:
        assert self._waiter is not None
        self.reusable = reusable and not self.closed
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._waiter.set_result(CoreAnswer(self._status, self._headers, body))

    def _fail(self, reason: str) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(CoreAnswerInvalid(reason))
        self.abort()
