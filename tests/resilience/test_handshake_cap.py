"""A flood of connections that never finish TLS cannot hold more than max-handshakes slots;
the number allowed in progress drops while the event loop runs late."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.app import PROTECTION
from gateway.settings import ProtectionSettings, TlsSettings
from resilience.keepalive import settle

pytestmark = pytest.mark.resilience
Stalled = list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]


async def stall_three_and_see_the_fourth_closed(port: int) -> Stalled:
    """Three TCP connections that never start TLS; a fourth is closed at accept."""
    stalled = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await asyncio.wait_for(reader.read(), 2) == b"", "closed at accept, before any TLS"
    writer.close()
    return stalled


async def status_once_released(stalled: Stalled, client: aiohttp.ClientSession, url: str) -> int:
    """Close the stalled connections, then one request over mTLS: its status."""
    for _, writer in stalled:
        writer.close()
    await asyncio.sleep(0.2)
    async with client.get(f"{url}/v1/accounts", headers={"X-Request-ID": str(uuid.uuid4())}) as r:
        return r.status


async def test_stalled_handshakes_are_capped_and_legitimate_traffic_resumes(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, tpp: Pem
) -> None:
    """With 3 handshakes stalled, a 4th connection is closed at accept; once they go, TLS works again."""
    tls = TlsSettings(
        cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle, handshake_timeout_s=30
    )
    gateway = await start(core.url, tls=tls, protection=ProtectionSettings(max_handshakes=3))
    stalled = await stall_three_and_see_the_fourth_closed(gateway.port)
    assert await status_once_released(stalled, client_for(tpp), gateway.url) == 200
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        assert 'psd2gw_protection_events_total{event="refused_handshakes"} 1.0' in await r.text()


async def test_one_address_cannot_hold_every_handshake_slot(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, tpp: Pem
) -> None:
    """Silent sockets from one address fill only max-handshakes-per-ip, not max-handshakes.

    (All test traffic is from 127.0.0.1, so the refusal is observed on that address: with 3 of
    10 slots in use, a 4th connection from it is closed at accept.)
    """
    tls = TlsSettings(
        cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle, handshake_timeout_s=30
    )
    protection = ProtectionSettings(max_handshakes=10, max_handshakes_per_ip=3)
    gateway = await start(core.url, tls=tls, protection=protection)
    stalled = await stall_three_and_see_the_fourth_closed(gateway.port)
    (runner, *_) = gateway.runners
    stats = runner.app[PROTECTION]  # type: ignore[attr-defined]
    assert stats.refused_handshakes == 1 and stats.handshake_limit == 10
    released = await status_once_released(stalled, client_for(tpp), gateway.url)
    assert released == 200, "the address's slots are free again once its sockets are gone"


async def test_handshake_limit_halves_while_the_event_loop_runs_late_and_grows_back(
    start: StartGateway, core: RecordingCore
) -> None:
    """A late event loop lowers the handshakes allowed in progress; once on time, back to the cap."""
    gateway = await start(core.url)
    (runner, *_) = gateway.runners
    stats = runner.app[PROTECTION]  # type: ignore[attr-defined]
    assert stats.handshake_limit == 256
    for _ in range(3):
        time.sleep(0.1)  # noqa: ASYNC251 - blocks the loop on purpose, as a burst of handshakes does
        await asyncio.sleep(0.03)
    assert stats.handshake_limit <= 64
    assert await settle(lambda: stats.handshake_limit == 256, timeout_s=3)
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        assert 'psd2gw_protection_current{what="handshake_limit"} 256.0' in await r.text()
