"""A flood of connections that never finish TLS cannot hold more than max-handshakes slots."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.settings import ProtectionSettings, TlsSettings

pytestmark = pytest.mark.resilience


async def test_stalled_handshakes_are_capped_and_legitimate_traffic_resumes(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, tpp: Pem
) -> None:
    """With 3 handshakes stalled, a 4th connection is closed at accept; once they go, TLS works again."""
    tls = TlsSettings(
        cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle, handshake_timeout_s=30
    )
    gateway = await start(core.url, tls=tls, protection=ProtectionSettings(max_handshakes=3))
    stalled = [await asyncio.open_connection("127.0.0.1", gateway.port) for _ in range(3)]
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    assert await asyncio.wait_for(reader.read(), 2) == b"", "closed at accept, before any TLS"
    writer.close()
    for _, stalled_writer in stalled:
        stalled_writer.close()
    await asyncio.sleep(0.2)
    async with client_for(tpp).get(
        f"{gateway.url}/v1/accounts", headers={"X-Request-ID": str(uuid.uuid4())}
    ) as r:
        assert r.status == 200
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        assert 'psd2gw_protection_events_total{event="refused_handshakes"} 1.0' in await r.text()
