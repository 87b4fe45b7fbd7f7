"""The load generator: raw asyncio HTTP/1.1 over TLS (client certificate) or plain TCP, keep-alive.

    python bench/load.py --port 9443 --requests pool.bin --tls-cert qwac.pem --tls-key qwac.key \
        --tls-ca trust.pem --connections 32 --duration 4 [--rate 1200] [--cycle] [--slice 0/2]

Requests are pre-built raw bytes (``pool.py`` writes them; for the full chain every one is
sealed with a distinct X-Request-ID), sent in file order, each exactly once unless ``--cycle``.
Closed loop (default): ``--connections`` connections, each sends its next request as soon as
the previous answer is complete. Open loop (``--rate``): requests are due on a fixed schedule
whatever the answers do; a due request waits for an idle connection. The latency of a request
is measured from the moment it is written (``lat``) and, in open loop, also from the moment it
was due (``sched``: includes queueing in the generator, free of coordinated omission).

A protocol object per connection parses only the status line, ``Content-Length`` (or a chunked
terminator) and nothing else, so a request costs the generator a few tens of µs; run.py measures
that cost and reports the generator's ceiling. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import ssl
import struct
import sys
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aio

_CONTENT_LENGTH = b"\r\ncontent-length:"
_CHUNKED_END = b"0\r\n\r\n"


def read_pool(path: Path, index: int = 0, count: int = 1) -> list[bytes]:
    """Requests ``index, index + count, ...`` of a pool file (4-byte big-endian length + bytes each)."""
    data = path.read_bytes()
    out: list[bytes] = []
    at, n = 0, 0
    while at < len(data):
        (size,) = struct.unpack_from(">I", data, at)
        if n % count == index:
            out.append(data[at + 4 : at + 4 + size])
        at += 4 + size
        n += 1
    return out


def write_pool(path: Path, requests: list[bytes]) -> None:
    with path.open("wb") as f:
        for raw in requests:
            f.write(struct.pack(">I", len(raw)))
            f.write(raw)


def response_size(buffer: bytearray) -> tuple[int, int] | None:
    """(bytes of the first complete response, its status), or None while incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    at = head.find(_CONTENT_LENGTH)
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        total = end + 4 + int(head[at + len(_CONTENT_LENGTH) : line_end if line_end >= 0 else None])
        return (total, status) if len(buffer) >= total else None
    if b"chunked" in head:
        tail = buffer.find(_CHUNKED_END, end + 4)
        return (tail + len(_CHUNKED_END), status) if tail >= 0 else None
    return end + 4, status


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``call`` writes a request and waits for the whole response."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None:
            return
        parsed = response_size(self.buffer)
        if parsed is not None:
            del self.buffer[: parsed[0]]
            waiter, self.waiter = self.waiter, None
            waiter.set_result(parsed[1])

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection closed: {exc}"))
        self.waiter = None

    def call(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


@dataclass
class Recorder:
    """Counts every answer; keeps latencies only inside the measurement window."""

    window_start: float
    window_end: float
    total: int = 0
    measured: int = 0
    errors: int = 0
    last_done: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    lat_us: array[float] = field(default_factory=lambda: array("d"))
    sched_us: array[float] = field(default_factory=lambda: array("d"))

    def add(self, due: float, sent: float, done: float, status: int) -> None:
        self.total += 1
        self.statuses[status] += 1
        if self.window_start <= sent and done <= self.window_end:
            self.measured += 1
            self.last_done = max(self.last_done, done)
            self.lat_us.append((done - sent) * 1e6)
            self.sched_us.append((done - due) * 1e6)

    def summary(self, exhausted: bool, cpu_s: float) -> dict[str, object]:
        end = self.window_end if not exhausted else min(self.window_end, self.last_done)
        return {
            "total": self.total,
            "cpu_s": cpu_s,
            "measured": self.measured,
            "window_s": max(end - self.window_start, 1e-9),
            "errors": self.errors,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "exhausted": exhausted,
            "lat_us": [round(x, 1) for x in self.lat_us],
            "sched_us": [round(x, 1) for x in self.sched_us],
        }


@dataclass
class Source:
    requests: Iterator[bytes]
    exhausted: bool = False

    def next(self) -> bytes | None:
        raw = next(self.requests, None)
        if raw is None:
            self.exhausted = True
        return raw


async def closed_worker(conn: Connection, source: Source, rec: Recorder) -> None:
    while (sent := time.perf_counter()) < rec.window_end:
        raw = source.next()
        if raw is None:
            return
        try:
            status = await conn.call(raw)
        except ConnectionError:
            rec.errors += 1
            return
        rec.add(sent, sent, time.perf_counter(), status)


async def one_open(
    conn: Connection, raw: bytes, due: float, rec: Recorder, idle: asyncio.Queue[Connection]
) -> None:
    sent = time.perf_counter()
    try:
        status = await conn.call(raw)
    except ConnectionError:
        rec.errors += 1
        return
    rec.add(due, sent, time.perf_counter(), status)
    idle.put_nowait(conn)


async def open_loop(
    conns: list[Connection], source: Source, rate: float, start: float, rec: Recorder
) -> None:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    tasks: set[asyncio.Task[None]] = set()
    due_count = int((rec.window_end - start) * rate)
    for i in range(due_count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        raw = source.next()
        if raw is None:
            break
        conn = await idle.get()
        task = asyncio.create_task(one_open(conn, raw, due, rec, idle))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=10)


def client_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert:
        return None
    ctx = ssl.create_default_context(cafile=args.tls_ca)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    return ctx


async def connect(args: argparse.Namespace) -> list[Connection]:
    loop = asyncio.get_running_loop()
    ctx = client_context(args)
    ports = [int(p) for p in args.port.split(",")]
    conns = []
    for i in range(args.connections):
        _, conn = await loop.create_connection(
            Connection,
            args.host,
            ports[i % len(ports)],
            ssl=ctx,
            server_hostname="localhost" if ctx else None,
        )
        conns.append(conn)
    return conns


async def generate(args: argparse.Namespace) -> dict[str, object]:
    index, count = (int(x) for x in args.slice.split("/"))
    pool = read_pool(Path(args.requests), index, count)
    source = Source(itertools.cycle(pool) if args.cycle else iter(pool))
    conns = await connect(args)
    if args.start_at:
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
    cpu_before = _cpu_s()
    start = time.perf_counter()
    rec = Recorder(start + args.warmup, start + args.warmup + args.duration)
    if args.rate:
        await open_loop(conns, source, args.rate, start, rec)
    else:
        await asyncio.gather(*(closed_worker(conn, source, rec) for conn in conns))
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return rec.summary(source.exhausted, _cpu_s() - cpu_before)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", required=True, help="port, or ports separated by commas (connections split)"
    )
    parser.add_argument("--requests", required=True, help="pool file written by pool.py")
    parser.add_argument("--cycle", action="store_true", help="reuse the pool (targets without replay checks)")
    parser.add_argument("--slice", default="0/1", help="k/n: this process sends requests k, k+n, ...")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds sent before measuring")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: requests/s (0: closed loop)")
    parser.add_argument(
        "--start-at", type=float, default=0.0, help="wall-clock time to start (several procs)"
    )
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    parser.add_argument("--tls-ca", default="")
    summary = json.dumps(aio.run(generate(parser.parse_args())))
    # The summary (with its latency samples) can exceed a pipe's 64 KiB, and the event loop may
    # leave stdout non-blocking: a plain print then stops at 65,536 bytes.
    os.set_blocking(sys.stdout.fileno(), True)
    sys.stdout.write(summary + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
