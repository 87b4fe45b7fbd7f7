"""Overload: at about 3x measured capacity a real gateway process sheds the excess early and recovers.

Capacity here is what the pipeline limit allows against a core that takes CORE_DELAY_S per
request (max-in-flight / delay), measured first in a short closed-loop run. Then an open-loop
generator offers three times that for OVERLOAD_S seconds over many connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from support.cores import RecordingCore
from support.pki import Pem, TestPki
from support.process import GatewayProcess

from resilience.load import Sampler, Tally, call, closed_loop, open_policies, protection_events, rss_bytes

pytestmark = pytest.mark.resilience

CORE_DELAY_S = 0.1
MAX_IN_FLIGHT, MAX_QUEUED = 16, 16
MAX_RSS_MB = 400
MEASURE_S, OVERLOAD_S, RECOVERY_S = 2.0, 6.0, 5.0


@pytest.fixture
def process(tmp_path: Path, pki: TestPki, core: RecordingCore) -> Iterator[GatewayProcess]:
    core.delay_s = CORE_DELAY_S
    protection = {
        "max-in-flight": MAX_IN_FLIGHT,
        "max-queued": MAX_QUEUED,
        "queue-timeout-s": 0.5,
        "retry-after-s": 1,
        "max-rss-mb": MAX_RSS_MB,
    }
    policies = str(open_policies(tmp_path))
    gateway = GatewayProcess(tmp_path, pki, core.url, protection=protection, policies=policies).start()
    yield gateway
    gateway.stop()


async def offer(client: aiohttp.ClientSession, url: str, rate: float, seconds: float, tally: Tally) -> None:
    """Open loop: start a request every 1/rate s for ``seconds``, whatever the answers (at most 3000)."""
    started, tasks = time.monotonic(), []
    for n in range(min(int(rate * seconds), 3000)):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(call(client, url, tally, check_shed=True)))
    await asyncio.gather(*tasks)


async def test_three_times_capacity_is_shed_early_and_the_gateway_recovers(
    process: GatewayProcess, pki: TestPki, tpp: Pem
) -> None:
    """503 + Retry-After (Berlin Group body) for the excess; goodput holds; RSS bounded; fast recovery."""
    assert process.proc is not None
    url = f"{process.url}/v1/accounts"
    connector = aiohttp.TCPConnector(ssl=pki.client_context(tpp), limit=400)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as client:
        measured = Tally()
        until = time.monotonic() + MEASURE_S
        await asyncio.gather(*(closed_loop(client, url, until, measured) for _ in range(MAX_IN_FLIGHT)))
        capacity = measured.statuses.get(200, 0) / MEASURE_S

        overload, sampler = Tally(), Sampler(process.proc.pid)
        sampling = asyncio.create_task(sampler.run(time.monotonic() + OVERLOAD_S + 1))
        started = time.monotonic()
        await offer(client, url, 3 * capacity, OVERLOAD_S, overload)
        elapsed = time.monotonic() - started
        await sampling

        recovered_after = None
        stopped = time.monotonic()
        while time.monotonic() - stopped < RECOVERY_S:
            probe = Tally()
            await call(client, url, probe)
            if probe.statuses.get(200) and probe.latencies[0] < 2 * CORE_DELAY_S + 0.1:
                recovered_after = time.monotonic() - stopped
                break
            await asyncio.sleep(0.1)

    events = await protection_events(process.metrics_port)
    # While the loop runs late, new handshakes beyond the paced limit are closed at accept
    # (listener.HandshakePace): shed before TLS, which the client sees as a connect error.
    offered = overload.total
    refused_at_accept = overload.errors.pop("ClientConnectorError", 0)
    assert refused_at_accept <= events.get("refused_handshakes", 0), "each connect error is a counted refusal"
    shed, ok = overload.statuses.get(503, 0) + refused_at_accept, overload.statuses.get(200, 0)
    p50 = sorted(overload.latencies)[len(overload.latencies) // 2]
    print(
        f"\ncapacity {capacity:.0f}/s (measured {measured.statuses}); offered {3 * capacity:.0f}/s for "
        f"{elapsed:.1f} s: {overload.statuses} {overload.errors}, refused at accept {refused_at_accept}; "
        f"shed {shed / offered:.0%}; "
        f"goodput {ok / elapsed:.0f}/s; overall p50 latency {p50:.3f} s; "
        f"rss peak {max(sampler.rss) >> 20} MiB; recovered after {recovered_after} s"
    )
    assert set(overload.statuses) <= {200, 503} and not overload.errors
    assert shed > 0.3 * offered, "the excess is shed"
    assert ok / elapsed > 0.7 * capacity, "shedding keeps the gateway serving at capacity"
    assert max(sampler.rss) < MAX_RSS_MB * 1024 * 1024
    assert recovered_after is not None and recovered_after < RECOVERY_S
    assert rss_bytes(process.proc.pid) < MAX_RSS_MB * 1024 * 1024
