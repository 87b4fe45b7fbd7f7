"""One request as the TPP listener parsed it, and the answer the pipeline gives back.

The head is complete when the pipeline gets the request; the body may still be arriving. The
connection (``gateway.http_server``) fills the body in, bounded; the pipeline reads it once,
with its route's limit, only after the caller and the route are known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.errors import Code, Reject


class Reply(Protocol):
    """What goes back to the TPP: the connection adds framing, ``Date`` and keep-alive."""

    status: int
    headers: CIMultiDict[str]
    body: bytes


class Answer:
    """A plain ``Reply``."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: CIMultiDict[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def too_large(limit: int) -> Reject:
    return Reject(Code.FORMAT_ERROR, f"The request body exceeds {limit} bytes.", status=413)


class IncomingRequest:
    """A parsed request head with its body, which ``read_body`` waits for."""

    __slots__ = (
        "_chunks",
        "_complete",
        "_error",
        "_limit",
        "_size",
        "_waiter",
        "content_length",
        "headers",
        "keep_alive",
        "method",
        "on_first_read",
        "peer_certificate",
        "peer_ip",
        "raw_path",
        "version",
    )

    def __init__(
        self,
        method: str,
        raw_path: str,
        version: tuple[int, int],
        headers: CIMultiDictProxy[str],
        *,
        peer_ip: str,
        peer_certificate: bytes | None,
        keep_alive: bool,
        content_length: int | None,
        body_limit: int,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.version = version
        self.headers = headers
        self.peer_ip = peer_ip
        self.peer_certificate = peer_certificate  # DER the handshake verified; None: plain TCP or none
        self.keep_alive = keep_alive
        self.content_length = content_length
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = body_limit
        self._complete = False
        self._error: Reject | None = None
        self._waiter: asyncio.Future[None] | None = None
        # Set by the connection for "Expect: 100-continue": called when the body is first awaited.
        self.on_first_read: Callable[[], None] | None = None

    @property
    def buffered(self) -> int:
        return self._size

    @property
    def waits_for_continue(self) -> bool:
        """The client waits for 100 Continue before it sends the body."""
        return self.on_first_read is not None and not self._complete

    @property
    def received(self) -> bool:
        """The whole message is off the wire (kept, or discarded after a refusal)."""
        return self._complete

    async def read_body(self, limit: int) -> bytes:
        """The body as received on the wire; a ``Reject`` 413 above ``limit`` (declared or counted)."""
        declared = self.content_length or 0
        if declared > limit or self._size > limit:
            self.fail(too_large(limit))
        self._limit = min(self._limit, limit)
        first_read, self.on_first_read = self.on_first_read, None
        if first_read is not None and not self._complete and self._error is None:
            first_read()
        while not self._complete and self._error is None:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        if self._error is not None:
            raise self._error
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)

    # The connection's side.

    def feed(self, chunk: bytes) -> None:
        if self._error is not None:
            return  # cut off: the rest is discarded as it arrives
        self._size += len(chunk)
        if self._size > self._limit:
            self._chunks.clear()
            self.fail(too_large(self._limit))
            return
        self._chunks.append(chunk)

    def finish(self) -> None:
        self._complete = True
        self._wake()

    def fail(self, error: Reject) -> None:
        if self._error is None:
            self._error = error
            self._chunks.clear()
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
