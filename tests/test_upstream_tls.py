"""A core behind HTTPS with its own CA, requiring the gateway's client certificate (mTLS to the core)."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support.gateway_fixtures import StartGateway
from support.pki import Pem

from gateway.eidas.issue import DevCA, write_pem
from gateway.settings import UpstreamSettings


@pytest.fixture
async def tls_core(tmp_path: Path) -> AsyncIterator[tuple[str, Path, Path, Path, list[str]]]:
    """An HTTPS core whose CA only it trusts, accepting only clients of the 'gateway' CA."""
    core_ca, gateway_ca = DevCA.create("Core CA"), DevCA.create("Gateway client CA")
    server = core_ca.issue_server(["localhost"], ["127.0.0.1"])
    client = gateway_ca.issue_qwac(common_name="psd2-gateway")  # any certificate allowing clientAuth
    files = {
        name: tmp_path / name
        for name in ("core-ca.pem", "server.pem", "server.key", "client.pem", "client.key", "client-ca.pem")
    }
    write_pem(files["core-ca.pem"], core_ca.bundle_pem())
    write_pem(files["server.pem"], server.chain_pem())
    write_pem(files["server.key"], server.key_pem(), private=True)
    write_pem(files["client.pem"], client.chain_pem())
    write_pem(files["client.key"], client.key_pem(), private=True)
    write_pem(files["client-ca.pem"], gateway_ca.bundle_pem())
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files["client-ca.pem"]))
    ctx.load_cert_chain(files["server.pem"], files["server.key"])
    ctx.verify_mode = ssl.CERT_REQUIRED
    peers: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        peers.append(str(peer.get("subject")) if peer else "")
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    yield (
        f"https://127.0.0.1:{site.port}",
        files["core-ca.pem"],
        files["client.pem"],
        files["client.key"],
        peers,
    )
    await runner.cleanup()


async def test_gateway_reaches_an_mtls_core(
    start: StartGateway, client_for: Any, tpp: Pem, tls_core: tuple[str, Path, Path, Path, list[str]]
) -> None:
    """With upstream.ca and client-cert the gateway verifies the core and presents its own certificate."""
    url, ca, cert, key, peers = tls_core
    gateway = await start(url, upstream=UpstreamSettings(url=url, ca=ca, client_cert=cert, client_key=key))
    async with client_for(tpp).get(
        f"{gateway.url}/v1/accounts", headers={"X-Request-ID": str(uuid.uuid4())}
    ) as r:
        assert r.status == 200, await r.text()
    assert "psd2-gateway" in peers[0]


async def test_core_with_an_untrusted_certificate_is_502(
    start: StartGateway, client_for: Any, tpp: Pem, tls_core: tuple[str, Path, Path, Path, list[str]]
) -> None:
    """Without the core's CA the gateway refuses to talk to it: 502, never an unverified connection."""
    url, _ca, cert, key, peers = tls_core
    gateway = await start(url, upstream=UpstreamSettings(url=url, client_cert=cert, client_key=key))
    async with client_for(tpp).get(
        f"{gateway.url}/v1/accounts", headers={"X-Request-ID": str(uuid.uuid4())}
    ) as r:
        assert r.status == 502
    assert peers == []
