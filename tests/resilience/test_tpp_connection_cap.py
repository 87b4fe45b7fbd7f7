"""Per-TPP connection caps: a TPP (one client certificate) holds at most max-connections-per-tpp.

Checked right after the TLS handshake, the first moment the TPP is known: the connection over
the cap is closed without an HTTP answer and never reaches the pipeline; other TPPs are not
affected; the count is given back however a connection ends.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.app import PROTECTION, RunningGateway
from gateway.protection_stats import ProtectionStats
from gateway.settings import IdentitySettings, IngressSettings, ProtectionSettings, TlsSettings
from gateway.tpp_connections import LOG_EVERY_S, TppConnections
from resilience.keepalive import Connection, first_answer, settle
from resilience.wire import PAYMENT, read_until_closed, rid

pytestmark = pytest.mark.resilience

CAP = 3


def stats(gateway: RunningGateway) -> ProtectionStats:
    (runner, *_) = gateway.runners
    return runner.app[PROTECTION]  # type: ignore[attr-defined, no-any-return]


async def events(gateway: RunningGateway) -> str:
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        return await r.text()


async def test_connections_over_the_per_tpp_cap_are_closed_after_the_handshake(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """CAP connections of TPP A work, A's next one is closed unanswered, TPP B gets through; A again later."""
    gateway = await start(core.url, protection=ProtectionSettings(max_connections_per_tpp=CAP))
    ctx_a, ctx_b = pki.client_context(tpp), pki.client_context(pki.qwac(organization_name="Other TPP"))
    held = [await Connection.open(gateway.port, ctx_a) for _ in range(CAP)]
    assert [await c.ask() for c in held] == [200] * CAP

    over = await Connection.open(gateway.port, ctx_a)  # TLS 1.3: the client is done before the server
    assert await over.ask() == 0, "closed without an HTTP answer"
    assert await read_until_closed(over.reader, 1) == b""
    assert len(core.seen) == CAP, "the connection over the cap never reached the pipeline"
    assert await first_answer(gateway.port, ctx_b) == 200, "another TPP is not affected"
    assert [await c.ask() for c in held] == [200] * CAP, "A's admitted connections stay usable"
    assert stats(gateway).refused_tpp_connections == 1
    assert 'psd2gw_protection_events_total{event="refused_tpp_connections"} 1.0' in await events(gateway)

    for connection in held:
        await connection.close()
    assert await settle(lambda: stats(gateway).tpp_connections == 0)
    again = [await Connection.open(gateway.port, ctx_a) for _ in range(CAP)]
    assert [await c.ask() for c in again] == [200] * CAP, "A can connect again once its connections closed"
    for connection in again:
        await connection.close()


async def answered_then_closed(connection: Connection) -> None:
    await connection.ask()
    await connection.close()


async def reset_by_the_client(connection: Connection) -> None:
    await connection.ask()
    sock = connection.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.writer.transport.abort()  # RST, no close_notify


async def malformed_request(connection: Connection) -> None:
    await connection.ask(b"GET /v1/accounts HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")
    await read_until_closed(connection.reader, 3)  # 400, then the gateway closes


async def head_never_completes(connection: Connection) -> None:
    connection.writer.write(b"GET /v1/accounts HTTP/1.1\r\nHost: local")
    await read_until_closed(connection.reader, 3)  # closed at header-timeout-s


async def idle_after_a_request(connection: Connection) -> None:
    await connection.ask()
    await read_until_closed(connection.reader, 3)  # closed at idle-timeout-s


async def body_cut_off(connection: Connection) -> None:
    head = PAYMENT.replace("{rid}", rid()) + "Content-Length: 1000\r\n\r\n"
    connection.writer.write(head.encode() + b'{"instructedAmount":')
    await asyncio.sleep(0.2)
    connection.writer.transport.abort()


ENDINGS: list[Callable[[Connection], Awaitable[None]]] = [
    answered_then_closed,
    reset_by_the_client,
    malformed_request,
    head_never_completes,
    idle_after_a_request,
    body_cut_off,
]


async def test_tpp_connection_count_returns_to_zero_however_connections_end(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """CAP + 2 connections at once per way of ending, six ways: then nothing is counted and A connects."""
    protection = ProtectionSettings(
        max_connections_per_tpp=CAP, header_timeout_s=0.5, idle_timeout_s=0.5, body_grace_s=0.5
    )
    tls = TlsSettings(
        cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle, handshake_timeout_s=1.0
    )
    gateway = await start(core.url, tls=tls, protection=protection)
    ctx = pki.client_context(tpp)

    async def one(ending: Callable[[Connection], Awaitable[None]]) -> None:
        await ending(await Connection.open(gateway.port, ctx))

    for ending in ENDINGS:
        await asyncio.gather(*(one(ending) for _ in range(CAP + 2)))
        assert await settle(lambda: stats(gateway).tpp_connections == 0), ending.__name__
    assert await settle(lambda: stats(gateway).open_connections == 0)
    assert stats(gateway).refused_tpp_connections > 0, "some of the CAP + 2 were over the cap"
    again = [await Connection.open(gateway.port, ctx) for _ in range(CAP)]
    assert [await c.ask() for c in again] == [200] * CAP
    for connection in again:
        await connection.close()


def without_client_certificate(pki: TestPki) -> dict[str, Any]:
    tls = TlsSettings(
        cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle, require_client_cert=False
    )
    return {"tls": tls}


def ingress_mode(pki: TestPki) -> dict[str, Any]:
    ingress = IngressSettings(header="X-SSL-Client-Cert", trusted_proxies=["127.0.0.1/32"])
    return {
        "tls": TlsSettings(enabled=False, client_ca=pki.trust_bundle, require_client_cert=False),
        "identity": IdentitySettings(source="ingress", ingress=ingress),
    }


@pytest.mark.parametrize("mode", [without_client_certificate, ingress_mode])
async def test_connections_without_a_client_certificate_have_no_per_tpp_cap(
    start: StartGateway, core: RecordingCore, pki: TestPki, mode: Callable[[TestPki], dict[str, Any]]
) -> None:
    """No certificate on the connection (none sent, or behind an ingress): no per-TPP cap applies."""
    gateway = await start(core.url, protection=ProtectionSettings(max_connections_per_tpp=1), **mode(pki))
    ctx = pki.client_context(None) if gateway.url.startswith("https") else None
    held = [await Connection.open(gateway.port, ctx) for _ in range(4)]
    statuses = [await c.ask() for c in held]
    assert all(status >= 400 for status in statuses), statuses  # answered: no certificate, 401
    assert stats(gateway).refused_tpp_connections == 0 and stats(gateway).tpp_connections == 0
    for connection in held:
        await connection.close()


def test_refusals_are_logged_at_most_once_per_interval() -> None:
    """A TPP hammering its cap gives one log line per LOG_EVERY_S, carrying the count since the last."""
    now = [100.0]
    connections = TppConnections(1, ProtectionStats(), clock=lambda: now[0])
    tpp = b"\x01" * 32
    assert connections.admit(tpp)
    with capture_logs() as logs:
        for _ in range(50):
            assert not connections.admit(tpp)
        now[0] += LOG_EVERY_S
        assert not connections.admit(tpp)
    assert [(log["event"], log["refused"]) for log in logs] == [
        ("tpp_connection_cap", 1),
        ("tpp_connection_cap", 50),
    ]
    assert logs[0]["certificate_sha256"] == tpp.hex()
    assert connections.stats.refused_tpp_connections == 51
