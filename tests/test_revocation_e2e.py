"""Revocation end to end: CRL and OCSP answers from a loopback responder decide at the real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki
from support.revocation_server import RevocationServer

from gateway.eidas.issue import DevCA, write_pem
from gateway.eidas.revocation import RevocationConfig
from gateway.settings import IdentitySettings, TlsSettings

PATH = "/v1/accounts/acc-1/balances"


@pytest.fixture
async def responder() -> AsyncIterator[RevocationServer]:
    server = RevocationServer()
    server.attach(DevCA.create("Revoking QTSP", revocation_base_url=await server.start()))
    yield server
    await server.close()


async def start_with(
    start: StartGateway,
    core: RecordingCore,
    pki: TestPki,
    responder: RevocationServer,
    tmp: Path,
    **config: Any,
) -> Any:
    bundle = tmp / "revoking-qtsp.pem"
    write_pem(bundle, responder.ca.bundle_pem())
    tls = TlsSettings(cert=pki.server.cert, key=pki.server.key, client_ca=bundle)
    identity = IdentitySettings(revocation=RevocationConfig(**config))
    return await start(core.url, tls=tls, identity=identity)


async def call(client: Any, url: str) -> tuple[int, str | None]:
    async with client.get(url, headers={"X-Request-ID": str(uuid.uuid4())}) as r:
        body = await r.json()
        return r.status, (body.get("tppMessages") or [{}])[0].get("code")


def tpp_of(pki: TestPki, responder: RevocationServer) -> tuple[Pem, int]:
    issued = responder.ca.issue_qwac()
    return pki.write(issued, f"rev-{issued.cert.serial_number}"), issued.cert.serial_number


@pytest.mark.parametrize("mode", ["crl", "ocsp"])
async def test_revoked_certificate_is_certificate_revoked(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    pki: TestPki,
    responder: RevocationServer,
    tmp_path: Path,
    mode: str,
) -> None:
    """A QWAC on the CRL or revoked by OCSP gets 401 CERTIFICATE_REVOKED; a good one passes."""
    good, _ = tpp_of(pki, responder)
    revoked, serial = tpp_of(pki, responder)
    responder.revoked.add(serial)
    gateway = await start_with(start, core, pki, responder, tmp_path, mode=mode)
    assert await call(client_for(good), f"{gateway.url}{PATH}") == (200, None)
    assert await call(client_for(revoked), f"{gateway.url}{PATH}") == (401, "CERTIFICATE_REVOKED")
    assert len(core.seen) == 1


async def test_responder_down_without_a_cached_answer_fails_closed(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    pki: TestPki,
    responder: RevocationServer,
    tmp_path: Path,
) -> None:
    """No OCSP answer and nothing cached: 401 CERTIFICATE_INVALID, the core sees nothing."""
    tpp, _ = tpp_of(pki, responder)
    gateway = await start_with(start, core, pki, responder, tmp_path, mode="ocsp", ocsp_timeout_s=0.5)
    await responder.down()
    assert await call(client_for(tpp), f"{gateway.url}{PATH}") == (401, "CERTIFICATE_INVALID")
    assert core.seen == []


async def test_responder_down_with_a_recent_good_answer_is_served(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    pki: TestPki,
    responder: RevocationServer,
    tmp_path: Path,
) -> None:
    """A GOOD younger than 24 h keeps the TPP in service while the responder is down."""
    tpp, _ = tpp_of(pki, responder)
    gateway = await start_with(
        start, core, pki, responder, tmp_path, mode="ocsp", ocsp_timeout_s=0.5, ocsp_max_cache_s=0
    )
    assert await call(client_for(tpp), f"{gateway.url}{PATH}") == (200, None)
    await responder.down()
    assert await call(client_for(tpp), f"{gateway.url}{PATH}") == (200, None)
    metrics_url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
    async with aiohttp.ClientSession() as plain, plain.get(metrics_url) as r:
        scrape = await r.text()
    assert 'psd2gw_revocation_events_total{event="stale_good_used"} 1.0' in scrape
    assert len(core.seen) == 2
