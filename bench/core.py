"""A fixed-response bank core: raw asyncio HTTP/1.1 with keep-alive, plain HTTP on loopback.

    python bench/core.py --port 8081

Every request (any method, any path) is read in full (headers, then ``Content-Length`` bytes of
body) and answered with the same 201 payment-initiation JSON. Pipelined requests are served in
order. It does no routing and keeps no state, so it costs a few µs per request and is never the
bottleneck of a gateway benchmark (``run.py`` measures it against the sandbox core).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import aio

BODY = (
    b'{"transactionStatus":"RCVD","paymentId":"bench-payment-1",'
    b'"_links":{"scaRedirect":{"href":"https://bank.example/sca/bench-payment-1"},'
    b'"self":{"href":"/v1/payments/sepa-credit-transfers/bench-payment-1"}}}'
)
RESPONSE = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Location: /v1/payments/sepa-credit-transfers/bench-payment-1\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
_CONTENT_LENGTH = b"\r\ncontent-length:"


class CoreProtocol(asyncio.Protocol):
    """One client connection: parse as many complete requests as arrived, answer each."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        answers = 0
        while (size := request_size(self.buffer)) is not None:
            del self.buffer[:size]
            answers += 1
        if answers and self.transport is not None:
            self.transport.write(RESPONSE * answers)


def request_size(buffer: bytearray) -> int | None:
    """Bytes of the first complete request in ``buffer`` (head + body), or None if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    at = head.find(_CONTENT_LENGTH)
    length = 0
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + len(_CONTENT_LENGTH) : line_end if line_end >= 0 else None])
    total = end + 4 + length
    return total if len(buffer) >= total else None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CoreProtocol, host, port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"bench core on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    aio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
