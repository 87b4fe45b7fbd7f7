"""Raw HTTP/1.1 over real TLS for the resilience tests: bytes in, bytes out, nothing normalised."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import uuid
from dataclasses import dataclass

GET_ACCOUNTS = "GET /v1/accounts HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: {rid}\r\n"
PAYMENT = "POST /v1/payments/sepa-credit-transfers HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: {rid}\r\n"
PAYMENT_BODY = b'{"instructedAmount":{"currency":"EUR","amount":"12.30"}}'


def rid() -> str:
    return str(uuid.uuid4())


_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3}) ")


def status_of(answer: bytes) -> int:
    """The status of the first response in ``answer`` (0: no response at all)."""
    statuses = statuses_of(answer)
    return statuses[0] if statuses else 0


def statuses_of(answer: bytes) -> list[int]:
    """Statuses of the responses in ``answer`` (bodies here are JSON and never contain a status line)."""
    return [int(m.group(1)) for m in _STATUS_LINE.finditer(answer)]


async def open_tls(
    port: int, ctx: ssl.SSLContext, *, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="localhost", local_addr=(source, 0)
    )


async def read_until_closed(reader: asyncio.StreamReader, timeout_s: float) -> bytes:
    """Everything the peer sends until it closes (or resets), or until ``timeout_s``."""
    data = b""
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await reader.read(65536):
                data += chunk
    except (ConnectionError, ssl.SSLError, TimeoutError):
        pass
    return data


async def exchange(port: int, ctx: ssl.SSLContext, request: bytes, timeout_s: float = 5.0) -> bytes:
    """Send raw request bytes over TLS in one write; return all the gateway answers until it closes."""
    reader, writer = await open_tls(port, ctx)
    try:
        writer.write(request)
        await writer.drain()
        return await read_until_closed(reader, timeout_s)
    finally:
        writer.close()


@dataclass
class Closed:
    """How a connection ended: what was received, and after how many seconds."""

    answer: bytes
    after_s: float


async def wait_closed(reader: asyncio.StreamReader, started: float, timeout_s: float) -> Closed:
    answer = await read_until_closed(reader, timeout_s)
    return Closed(answer, time.monotonic() - started)
