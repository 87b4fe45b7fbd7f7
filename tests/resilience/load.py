"""Bounded load and attack helpers for the slowloris and overload tests (time- and count-limited)."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from resilience.wire import GET_ACCOUNTS, PAYMENT, read_until_closed, rid


def open_policies(directory: Path) -> Path:
    """A policy set without rate limits (load tests measure the gateway, not the TPP's quota)."""
    policies = directory / "policies"
    policies.mkdir()
    (policies / "routes.yaml").write_text(
        "routes:\n"
        "  - {name: accounts, path: /v1/accounts, methods: [GET], policies: [request-id]}\n"
        "  - {name: payments, path: /v1/payments/**, methods: [POST], policies: [request-id]}\n"
    )
    return policies


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115 - /proc, tiny
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Sampler:
    """Samples a process's file descriptors and resident memory every ``every_s`` until stopped."""

    pid: int
    every_s: float = 0.2
    fds: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            self.fds.append(fd_count(self.pid))
            self.rss.append(rss_bytes(self.pid))
            await asyncio.sleep(self.every_s)


@dataclass
class Tally:
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lifetimes: list[float] = field(default_factory=list)  # attack connections: seconds until closed

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def error(self, e: BaseException) -> None:
        self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


async def tcp_holder(port: int, source: str, until: float, tally: Tally) -> None:
    """Opens TCP connections that never start TLS; reopens each one the gateway closes."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError as e:
            tally.error(e)
            await asyncio.sleep(0.2)
            continue
        opened = time.monotonic()
        await read_until_closed(reader, until - opened + 0.1)
        tally.lifetimes.append(time.monotonic() - opened)
        writer.close()
        await asyncio.sleep(0.05)


async def slow_head(port: int, ctx: ssl.SSLContext, source: str, until: float, tally: Tally) -> None:
    """TLS connections that send a request head one byte every 0.3 s; reopened when closed."""
    head = (GET_ACCOUNTS.replace("{rid}", rid()) + "X-Pad: " + "p" * 500 + "\r\n").encode()
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost", local_addr=(source, 0)
            )
        except (OSError, ssl.SSLError) as e:
            tally.error(e)
            await asyncio.sleep(0.2)
            continue
        opened = time.monotonic()
        closed = asyncio.create_task(read_until_closed(reader, until - opened + 0.1))
        for byte in head:
            if closed.done() or time.monotonic() > until:
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.3)
        await closed
        tally.lifetimes.append(time.monotonic() - opened)
        writer.close()


async def slow_post(port: int, ctx: ssl.SSLContext, source: str, until: float, tally: Tally) -> None:
    """A complete head, then a body at 10 bytes/s; reopened when closed."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="localhost", local_addr=(source, 0)
            )
        except (OSError, ssl.SSLError) as e:
            tally.error(e)
            await asyncio.sleep(0.2)
            continue
        opened = time.monotonic()
        writer.write((PAYMENT.replace("{rid}", rid()) + "Content-Length: 100000\r\n\r\n").encode())
        answer = asyncio.create_task(read_until_closed(reader, until - opened + 0.1))
        while not answer.done() and time.monotonic() < until:
            writer.write(b"xxxxx")
            await asyncio.sleep(0.5)
        data = await answer
        tally.count(int(data[9:12]) if data[9:12].isdigit() else 0)
        tally.lifetimes.append(time.monotonic() - opened)
        writer.close()


async def call(client: aiohttp.ClientSession, url: str, tally: Tally, *, check_shed: bool = False) -> None:
    started = time.monotonic()
    try:
        async with client.get(url, headers={"X-Request-ID": rid()}) as r:
            body = await r.read()
            if r.status == 503 and check_shed:
                assert r.headers.get("Retry-After", "").isdigit(), "503 without Retry-After"
                assert b'"code":"SERVICE_UNAVAILABLE"' in body, body
            tally.count(r.status)
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        tally.error(e)
    tally.latencies.append(time.monotonic() - started)


async def closed_loop(client: aiohttp.ClientSession, url: str, until: float, tally: Tally) -> None:
    while time.monotonic() < until:
        await call(client, url, tally)


async def protection_events(metrics_port: int) -> dict[str, float]:
    """The gateway's psd2gw_protection_events_total counters, by event."""
    async with aiohttp.ClientSession() as plain, plain.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
        text = await r.text()
    return {
        m[1]: float(m[2]) for m in re.finditer(r'psd2gw_protection_events_total\{event="(\w+)"\} (\S+)', text)
    }
