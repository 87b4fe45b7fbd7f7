"""A bank core for tests that records each request exactly as it arrived on the wire.

Written on raw asyncio streams rather than aiohttp so a test can see the framing bytes the
gateway sent (a duplicated Content-Length or a leftover Transfer-Encoding would show here).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from support.loopback import LoopbackServer


@dataclass
class Seen:
    """One request as the core received it."""

    request_line: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def target(self) -> str:
        return self.request_line.split(" ")[1]


@dataclass
class RecordingCore(LoopbackServer):
    delay_s: float = 0.0
    status: int = 200
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                seen = await _read_request(reader)
                if seen is None:
                    break
                self.seen.append(seen)
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(self._response(seen))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _response(self, seen: Seen) -> bytes:
        body = json.dumps({"core": "ok", "target": seen.target}).encode()
        lines = [
            f"HTTP/1.1 {self.status} X",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in self.response_headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(":", 1)) for line in header_lines if line]
    pairs = [(k.strip(), v.strip()) for k, v in headers]
    lengths = [v for k, v in pairs if k.lower() == "content-length"]
    body = await reader.readexactly(int(lengths[0])) if lengths else b""
    return Seen(request_line, pairs, body)
