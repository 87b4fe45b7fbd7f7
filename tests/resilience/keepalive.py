"""One TLS connection kept open and used for request after request, as a TPP's keep-alive client does."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from resilience.wire import GET_ACCOUNTS, rid, status_of

_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
_LOST = (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError)


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext | None, source: str = "127.0.0.1") -> Connection:
        tls = {"ssl": ctx, "server_hostname": "localhost"} if ctx is not None else {}
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), **tls)
        return cls(reader, writer)

    async def ask(self, request: bytes | None = None, timeout_s: float = 5.0) -> int:
        """Send one request (GET /v1/accounts by default); its status, 0 if the connection ends first."""
        self.writer.write(request or (GET_ACCOUNTS.replace("{rid}", rid()) + "\r\n").encode())
        try:
            async with asyncio.timeout(timeout_s):
                await self.writer.drain()
                head = await self.reader.readuntil(b"\r\n\r\n")
                length = _CONTENT_LENGTH.search(head)
                await self.reader.readexactly(int(length[1]) if length else 0)
        except _LOST:
            return 0
        return status_of(head)

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(2):
                await self.writer.wait_closed()
        except (*_LOST, OSError):
            self.writer.transport.abort()


async def first_answer(port: int, ctx: ssl.SSLContext | None, timeout_s: float = 5.0) -> int:
    """Status of a request on a fresh connection; 0 if it closes (or its handshake fails) first."""
    try:
        connection = await asyncio.wait_for(Connection.open(port, ctx), timeout_s)
    except (*_LOST, OSError):
        return 0
    try:
        return await connection.ask(timeout_s=timeout_s)
    finally:
        connection.writer.transport.abort()


async def settle(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Wait until ``condition()`` holds (True), or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
