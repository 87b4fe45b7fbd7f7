"""/metrics after a scripted mix of requests: exact counters, bounded labels, promtool-clean."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem

from gateway.settings import StoreSettings


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as plain, plain.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        return await r.text()


async def test_scripted_mix_is_counted_exactly(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, redis_url: str
) -> None:
    """3 forwarded, 2 FORMAT_ERROR, one 404: each counter says exactly that, and promtool agrees."""
    gateway = await start(core.url, store=StoreSettings(url=redis_url, budget_ms=1000))
    client = client_for(tpp)

    async def call(path: str, method: str = "GET", **headers: str) -> int:
        async with client.request(method, f"{gateway.url}{path}", headers=headers) as r:
            await r.read()
            return r.status

    statuses = [await call("/v1/accounts", **{"X-Request-ID": str(uuid.uuid4())}) for _ in range(3)]
    statuses += [await call("/v1/accounts"), await call("/v1/accounts", **{"X-Request-ID": "x"})]
    statuses.append(await call("/v1/nowhere", **{"X-Request-ID": str(uuid.uuid4())}))
    assert statuses == [200, 200, 200, 400, 400, 404]
    text = await scrape(gateway.metrics_port)
    labels = 'method="GET",outcome="forwarded",profile="berlin-group",route="ais-account-list",service="AIS"'
    assert f'psd2gw_requests_total{{{labels},status="200"}} 3.0' in text
    assert 'psd2gw_policy_rejections_total{code="FORMAT_ERROR",mode="enforce",rule="request-id"} 2.0' in text
    unrouted = 'method="GET",outcome="rejected",profile="none",route="none",service="OTHER",status="404"'
    assert f"psd2gw_requests_total{{{unrouted}}} 1.0" in text
    assert "psd2gw_store_duration_seconds_count 3.0" in text, "one store round trip per forwarded request"
    assert 'psd2gw_gateway_duration_seconds_bucket{le="0.0001",service="AIS"}' in text
    assert "psd2gw_sandbox_mode 0.0" in text
    for forbidden in ("consent", "request_id", "X-Request-ID"):
        assert forbidden not in text.split("# HELP")[0]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not installed (Debian package 'prometheus'); scripts/test installs it as root"
        )
    command = [promtool, "check", "metrics"]
    check = await asyncio.to_thread(
        subprocess.run, command, input=text.encode(), capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
