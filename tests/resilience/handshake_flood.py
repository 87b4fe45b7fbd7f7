"""A handshake flood: fresh mTLS connections as fast as possible, nothing sent, no keep-alive.

Run as its own process (``python handshake_flood.py PORT CAFILE CERT KEY SECONDS CONCURRENCY SOURCE``)
so the load does not share the test's event loop. Prints "flooding" when it starts, then one
JSON line of outcome counts.
Standard library only. Bounded: SECONDS of flooding, CONCURRENCY connections at a time, each
attempt at most 5 s.
"""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import sys
import time

ATTEMPT_S = 5.0


async def attempt(port: int, ctx: ssl.SSLContext, source: str) -> str:
    """One connection: the handshake, then an immediate close; the outcome as a word."""
    try:
        async with asyncio.timeout(ATTEMPT_S):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost", local_addr=(source, 0)
            )
    except TimeoutError:
        return "timeout"
    except (ConnectionError, ssl.SSLError, OSError):
        return "refused"  # closed at accept, or the handshake cut off
    # Wait for the gateway's answer to our close (it has then seen the whole handshake), but
    # never for long: the flood must not slow itself down on a busy server.
    writer.close()
    try:
        async with asyncio.timeout(1.0):
            await reader.read()
    except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
        pass
    writer.transport.abort()
    return "handshake"


async def flood(
    port: int, ctx: ssl.SSLContext, seconds: float, concurrency: int, source: str
) -> dict[str, int]:
    outcomes: collections.Counter[str] = collections.Counter()
    until = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < until:
            outcomes[await attempt(port, ctx, source)] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return dict(outcomes)


def main(argv: list[str]) -> None:
    port, cafile, cert, key, seconds, concurrency, source = argv
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.load_cert_chain(cert, key)
    print("flooding", flush=True)
    result = asyncio.run(flood(int(port), ctx, float(seconds), int(concurrency), source))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
