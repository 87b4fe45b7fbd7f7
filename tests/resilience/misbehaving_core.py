"""A bank core on raw sockets that misbehaves on purpose: slow, resetting, or answering badly.

Every answer carries ``LEAK`` in a header and in its body, so a test can check that nothing of
a bad answer reaches the TPP. ``seen`` counts requests as received (a retry would show as two);
``hung_up`` records when the gateway closed a connection the core was still holding.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from support.loopback import LoopbackServer

LEAK = "CORE-SECRET-d41d8cd9"
Answer = Callable[["MisbehavingCore", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def response(status_line: str, headers: list[str], body: bytes) -> bytes:
    head = "\r\n".join([status_line, f"X-Core-Leak: {LEAK}", *headers])
    return (head + "\r\n\r\n").encode("latin-1") + body


async def hold_until_hung_up(
    core: MisbehavingCore, reader: asyncio.StreamReader, _: asyncio.StreamWriter
) -> None:
    """Never answer; note when the gateway gives up and closes the connection."""
    with contextlib.suppress(ConnectionError, TimeoutError):
        async with asyncio.timeout(10):
            await reader.read()
    core.hung_up.append(time.monotonic())


async def reset_mid_body(_: MisbehavingCore, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Announce 1000 bytes, send 500, then reset the connection."""
    writer.write(response("HTTP/1.1 200 OK", ["Content-Length: 1000"], (LEAK + "x" * 500).encode()[:500]))
    await writer.drain()
    await asyncio.sleep(0.05)
    abort(writer)


async def close_before_answering(
    _: MisbehavingCore, __: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    abort(writer)


def answer(raw: bytes) -> Answer:
    async def send(_: MisbehavingCore, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        writer.close()

    return send


def abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class MisbehavingCore(LoopbackServer):
    behaviour: Answer = hold_until_hung_up
    seen: list[bytes] = field(default_factory=list)
    hung_up: list[float] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            self.seen.append(head + await reader.readexactly(length))
            await self.behaviour(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
