"""Lifecycle of a real gateway process: SIGTERM drains, SIGHUP reloads under load, workers share Redis."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.pki import Pem, TestPki
from support.process import GatewayProcess

pytestmark = pytest.mark.resilience


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for process in started:
        process.stop()


async def get(client: aiohttp.ClientSession, url: str, **headers: str) -> int:
    async with client.get(url, headers={"X-Request-ID": str(uuid.uuid4()), **headers}) as r:
        await r.read()
        return r.status


async def test_sigterm_drains_in_flight_requests(
    core: RecordingCore,
    client_for: Any,
    pki: TestPki,
    tpp: Pem,
    tmp_path: Path,
    processes: list[GatewayProcess],
) -> None:
    """Requests in flight when SIGTERM arrives all complete; then the process exits 0."""
    core.delay_s = 1.0
    gateway = GatewayProcess(tmp_path, pki, core.url).start()
    processes.append(gateway)
    client = client_for(tpp)
    in_flight = [asyncio.create_task(get(client, f"{gateway.url}/v1/accounts")) for _ in range(20)]
    async with asyncio.timeout(10):
        while len(core.seen) < 20:  # noqa: ASYNC110 - polling a plain list the core appends to
            await asyncio.sleep(0.02)
    gateway.signal(signal.SIGTERM)
    assert await asyncio.gather(*in_flight) == [200] * 20
    assert await asyncio.to_thread(gateway.wait) == 0


async def test_sighup_reloads_policies_under_load_without_failures(
    core: RecordingCore,
    client_for: Any,
    pki: TestPki,
    tpp: Pem,
    tmp_path: Path,
    processes: list[GatewayProcess],
) -> None:
    """A valid change applies on SIGHUP, an invalid one is refused; no request fails meanwhile."""
    policies = tmp_path / "policies"
    policies.mkdir()
    routes = policies / "routes.yaml"
    routes.write_text("routes:\n  - name: accounts\n    path: /v1/accounts\n    policies: [request-id]\n")
    gateway = GatewayProcess(
        tmp_path, pki, core.url, policies=str(policies), lifecycle={"watch-interval-s": 60}
    )
    processes.append(gateway.start())
    client = client_for(tpp)
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            statuses.append(await get(client, f"{gateway.url}/v1/accounts"))

    workers = [asyncio.create_task(load()) for _ in range(8)]
    await asyncio.sleep(0.5)
    routes.write_text(routes.read_text().replace("path: /v1/accounts\n", "path: /v1/accounts-renamed\n"))
    assert "accounts-renamed" in routes.read_text()
    gateway.signal(signal.SIGHUP)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*workers)
    assert statuses and set(statuses) <= {200, 404}, "no request failed during the reload"
    assert await get(client, f"{gateway.url}/v1/accounts") == 404, "the new policy set is in force"
    routes.write_text("routes: [broken\n")
    gateway.signal(signal.SIGHUP)
    await asyncio.sleep(0.5)
    assert await get(client, f"{gateway.url}/v1/accounts-renamed") == 200, "an invalid set is refused"
    metrics_url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
    async with aiohttp.ClientSession() as plain, plain.get(metrics_url) as r:
        scrape = await r.text()
    assert 'psd2gw_config_reloads_total{result="failure",what="policies"} 1.0' in scrape


async def two_workers(
    tmp_path: Path, pki: TestPki, core: RecordingCore, redis_url: str, policy_lines: str
) -> GatewayProcess:
    """A two-worker gateway on one Redis serving a single route with the given policies."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "routes.yaml").write_text(
        f"routes:\n  - name: accounts\n    path: /v1/accounts/**\n    policies:\n{policy_lines}"
    )
    store = {"url": redis_url, "budget-ms": 1000}  # these tests are about sharing, not faults
    return GatewayProcess(tmp_path, pki, core.url, policies=str(policies), store=store).start(
        "--workers", "2"
    )


async def spread(pki: TestPki, tpp: Pem, url: str, rounds: int, **headers: str) -> list[int]:
    """``rounds`` x 10 concurrent requests, each round on new connections the kernel spreads over workers."""
    statuses: list[int] = []
    for _ in range(rounds):
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=pki.client_context(tpp))
        ) as client:
            statuses += await asyncio.gather(*(get(client, url, **headers) for _ in range(10)))
    return statuses


async def test_two_workers_share_one_redis_with_exact_quotas(
    core: RecordingCore,
    pki: TestPki,
    tpp: Pem,
    tmp_path: Path,
    processes: list[GatewayProcess],
    redis_url: str,
) -> None:
    """Two SO_REUSEPORT workers enforce one rate limit exactly: 10 of 60 concurrent requests pass."""
    policy = "      - rate-limit: {limits: [{count: 10, per: 1h}], algorithm: log}\n"
    gateway = await two_workers(tmp_path, pki, core, redis_url, policy)
    processes.append(gateway)
    statuses = await spread(pki, tpp, f"{gateway.url}/v1/accounts", 6)
    assert statuses.count(200) == 10 and statuses.count(429) == 50, Counter(statuses)
    scraped = []
    async with aiohttp.ClientSession() as plain:
        for port in (gateway.metrics_port, gateway.metrics_port + 1):
            async with plain.get(f"http://127.0.0.1:{port}/metrics") as r:
                scraped.append(await r.text())
    assert all("psd2gw_requests_total" in text for text in scraped), "each worker serves its own metrics"


async def test_two_workers_count_access_frequency_exactly(
    core: RecordingCore,
    pki: TestPki,
    tpp: Pem,
    tmp_path: Path,
    processes: list[GatewayProcess],
    redis_url: str,
) -> None:
    """50 concurrent unattended reads on one consent over two processes: exactly 4 pass."""
    policy = "      - access-frequency: {max-per-day: 4, pagination-window-s: 0}\n"
    gateway = await two_workers(tmp_path, pki, core, redis_url, policy)
    processes.append(gateway)
    statuses = await spread(pki, tpp, f"{gateway.url}/v1/accounts/acc-1/balances", 5, **{"Consent-ID": "c-1"})
    assert statuses.count(200) == 4 and statuses.count(429) == 46, Counter(statuses)
