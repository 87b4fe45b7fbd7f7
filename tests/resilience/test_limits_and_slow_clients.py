"""Limits and slow clients at the TPP listener: sizes, deadlines, minimum body rate, connection caps.

Each test runs the in-process gateway with short deadlines (``FAST``) so it finishes in seconds;
the defaults are the same mechanisms with production values (``ProtectionSettings``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.app import PROTECTION, RunningGateway
from gateway.settings import ProtectionSettings, TlsSettings
from resilience.wire import GET_ACCOUNTS, PAYMENT, exchange, open_tls, read_until_closed, rid, statuses_of

pytestmark = pytest.mark.resilience

FAST = ProtectionSettings(
    max_line_bytes=1024,
    max_header_bytes=1024,
    max_headers=20,
    header_timeout_s=1.0,
    body_min_rate_bps=1000,
    body_grace_s=1.0,
    idle_timeout_s=1.5,
    lingering_s=0.5,
    max_connections_per_ip=20,
)
SLACK_S = 0.8  # scheduling slack on a loaded 2-core machine


async def fast_gateway(
    start: StartGateway, pki: TestPki, core: RecordingCore, **changes: Any
) -> RunningGateway:
    tls = TlsSettings(
        cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle, handshake_timeout_s=1.0
    )
    return await start(core.url, tls=tls, protection=changes.pop("protection", FAST), **changes)


def stats(gateway: RunningGateway) -> Any:
    (runner, *_) = gateway.runners
    return runner.app[PROTECTION]  # type: ignore[attr-defined]


def head(extra: str = "") -> str:
    return GET_ACCOUNTS.replace("{rid}", rid()) + extra


@pytest.mark.parametrize(
    ("what", "request_text"),
    [
        ("request line", head().replace("/v1/accounts", "/v1/accounts?q=" + "a" * 2000) + "\r\n"),
        ("header line", head("X-Big: " + "b" * 2000 + "\r\n") + "\r\n"),
        ("header name", head("X-" + "n" * 2000 + ": v\r\n") + "\r\n"),
        ("header count", head("".join(f"X-H{i}: v\r\n" for i in range(30))) + "\r\n"),
    ],
)
async def test_oversized_request_head_is_a_4xx_and_never_forwarded(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem, what: str, request_text: str
) -> None:
    """Request line, header line and header count limits give a Berlin Group 4xx; nothing is forwarded."""
    gateway = await fast_gateway(start, pki, core)
    answer = await exchange(gateway.port, pki.client_context(tpp), request_text.encode())
    (status,) = statuses_of(answer)
    assert 400 <= status < 500, what
    assert b'"code":"FORMAT_ERROR"' in answer
    assert core.seen == []
    assert stats(gateway).malformed_requests == 1  # psd2gw_protection_events{event="malformed_requests"}


async def test_endless_header_is_cut_off_without_reading_it_all(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """A header line that never ends is answered and the connection closed after about the limit."""
    gateway = await fast_gateway(start, pki, core)
    reader, writer = await open_tls(gateway.port, pki.client_context(tpp))
    writer.write(head("X-Endless: ").encode())
    sent = 0
    with pytest.raises((ConnectionError, OSError)):
        async with asyncio.timeout(5):
            while True:
                writer.write(b"x" * 65536)
                await writer.drain()
                sent += 65536
    answer = await read_until_closed(reader, 1)
    assert sent < 64 * 1024 * 1024, "the gateway stopped reading long before"
    assert statuses_of(answer) in ([400], []), answer[:200]
    assert core.seen == []


async def test_body_declared_over_the_limit_is_413_before_it_is_sent(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """A Content-Length over max-body-bytes is answered 413 at once, without waiting for the body."""
    gateway = await fast_gateway(start, pki, core, max_body_bytes=1024)
    reader, writer = await open_tls(gateway.port, pki.client_context(tpp))
    writer.write((PAYMENT.replace("{rid}", rid()) + "Content-Length: 1000000000\r\n\r\n").encode())
    started = time.monotonic()
    answer = await read_until_closed(reader, 3)
    writer.close()
    assert statuses_of(answer) == [413]
    assert time.monotonic() - started < FAST.lingering_s + SLACK_S
    assert core.seen == []


async def test_endless_chunked_body_is_413_and_the_connection_closes(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """An endless chunked body gets 413 past the limit; the rest is discarded for lingering-s at most."""
    gateway = await fast_gateway(start, pki, core, max_body_bytes=4096)
    reader, writer = await open_tls(gateway.port, pki.client_context(tpp))
    writer.write((PAYMENT.replace("{rid}", rid()) + "Transfer-Encoding: chunked\r\n\r\n").encode())
    started = time.monotonic()
    with pytest.raises((ConnectionError, OSError)):
        async with asyncio.timeout(5):
            while True:
                writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.001)
    closed_after = time.monotonic() - started
    answer = await read_until_closed(reader, 1)
    assert statuses_of(answer) in ([413], []), answer[:200]
    assert closed_after < FAST.lingering_s + 2 * SLACK_S
    assert core.seen == []


async def test_connection_without_a_complete_head_is_closed_at_the_header_deadline(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """Silent, and trickling a head byte by byte: both closed after header-timeout-s, nothing forwarded."""
    gateway = await fast_gateway(start, pki, core)
    ctx = pki.client_context(tpp)
    silent_reader, _silent = await open_tls(gateway.port, ctx)
    trickle_reader, trickle = await open_tls(gateway.port, ctx)
    started = time.monotonic()

    async def drip() -> None:
        for byte in head().encode():
            trickle.write(bytes([byte]))
            await asyncio.sleep(0.1)

    dripping = asyncio.create_task(drip())
    for reader in (silent_reader, trickle_reader):
        assert await read_until_closed(reader, 5) == b""
        assert time.monotonic() - started < FAST.header_timeout_s + SLACK_S
    dripping.cancel()
    assert time.monotonic() - started >= FAST.header_timeout_s - 0.1
    assert stats(gateway).head_timeouts == 2
    assert core.seen == []


async def test_tls_handshake_not_started_is_closed_at_the_handshake_deadline(
    start: StartGateway, core: RecordingCore, pki: TestPki
) -> None:
    """A TCP connection that never starts TLS is closed after tls.handshake-timeout-s."""
    gateway = await fast_gateway(start, pki, core)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = time.monotonic()
    assert await read_until_closed(reader, 5) == b""
    assert 0.9 <= time.monotonic() - started < 1.0 + SLACK_S
    writer.close()
    assert stats(gateway).handshake_failures == 1


async def test_body_slower_than_the_minimum_rate_gets_408_and_the_connection_closes(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """A body trickling at 50 B/s (minimum 1000) gets 408 after the grace period; nothing forwarded."""
    gateway = await fast_gateway(start, pki, core)
    reader, writer = await open_tls(gateway.port, pki.client_context(tpp))
    writer.write((PAYMENT.replace("{rid}", rid()) + "Content-Length: 2000\r\n\r\n").encode())
    started = time.monotonic()

    async def drip() -> None:
        for _ in range(200):
            writer.write(b"x" * 10)
            await asyncio.sleep(0.2)

    dripping = asyncio.create_task(drip())
    answer = await read_until_closed(reader, 6)
    dripping.cancel()
    assert statuses_of(answer) == [408]
    assert b"Connection: close" in answer and b'"code":"FORMAT_ERROR"' in answer
    assert time.monotonic() - started < FAST.body_grace_s + SLACK_S + 0.5
    assert stats(gateway).slow_bodies == 1
    assert core.seen == []


async def test_body_at_an_acceptable_rate_is_forwarded(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """A body sent at 2.5 kB/s over two grace windows (minimum 1000 B/s) is forwarded intact."""
    gateway = await fast_gateway(start, pki, core)
    body = b'{"pad":"' + b"x" * 4988 + b'"}'
    reader, writer = await open_tls(gateway.port, pki.client_context(tpp))
    request = (
        PAYMENT.replace("{rid}", rid()) + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    writer.write((request + "Connection: close\r\n\r\n").encode())
    for offset in range(0, len(body), 250):
        writer.write(body[offset : offset + 250])
        await asyncio.sleep(0.1)
    answer = await read_until_closed(reader, 5)
    assert statuses_of(answer) != [408]
    (seen,) = core.seen
    assert seen.body == body


async def test_idle_kept_alive_connection_is_closed_after_the_idle_timeout(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """After a response, a kept-alive connection that stays idle is closed after idle-timeout-s."""
    gateway = await fast_gateway(start, pki, core)
    reader, writer = await open_tls(gateway.port, pki.client_context(tpp))
    writer.write((head() + "\r\n").encode())
    answer = await reader.readuntil(b'"}')
    started = time.monotonic()
    assert statuses_of(answer) == [200]
    assert await read_until_closed(reader, 5) == b""
    assert FAST.idle_timeout_s - 0.1 <= time.monotonic() - started < FAST.idle_timeout_s + SLACK_S


async def test_connections_over_the_per_address_cap_are_refused_before_tls(
    start: StartGateway, core: RecordingCore, pki: TestPki, client_for: Any, tpp: Pem
) -> None:
    """Beyond max-connections-per-ip from one address, connections close at once; others still work."""
    gateway = await fast_gateway(start, pki, core)
    held = [
        await asyncio.open_connection("127.0.0.1", gateway.port, local_addr=("127.0.0.2", 0))
        for _ in range(20)
    ]
    await asyncio.sleep(0.05)
    extra = [
        await asyncio.open_connection("127.0.0.1", gateway.port, local_addr=("127.0.0.2", 0))
        for _ in range(5)
    ]
    started = time.monotonic()
    for reader, _ in extra:
        assert await read_until_closed(reader, 2) == b""
    assert time.monotonic() - started < 0.5, "refused at accept, not at the handshake deadline"
    assert stats(gateway).refused_connections == 5
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts", headers={"X-Request-ID": rid()}) as r:
        assert r.status == 200
    for _, writer in held + extra:
        writer.close()
