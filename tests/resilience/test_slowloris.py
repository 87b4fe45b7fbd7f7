"""500 slowloris sockets against a real gateway process while legitimate TPP traffic flows.

Attackers (each reconnecting whenever the gateway closes it, for ATTACK_S seconds):
150 TCP connections that never start TLS (127.0.0.2), 300 TLS connections trickling a request
head (127.0.0.3, more than the per-address cap of 256), 50 TLS connections trickling a body
(127.0.0.4). Legitimate traffic comes from 127.0.0.1. Every loop is bounded by ATTACK_S.
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

from resilience.load import (
    Sampler,
    Tally,
    call,
    closed_loop,
    fd_count,
    open_policies,
    protection_events,
    slow_head,
    slow_post,
    tcp_holder,
)

pytestmark = pytest.mark.resilience

ATTACK_S = 10.0
HEADER_TIMEOUT_S = 2.0
PER_IP_CAP = 256
TCP_ONLY, SLOW_HEADS, SLOW_BODIES, LEGIT_WORKERS = 150, 300, 50, 8


@pytest.fixture
def process(tmp_path: Path, pki: TestPki, core: RecordingCore) -> Iterator[GatewayProcess]:
    tls = {
        "cert": str(pki.server.cert),
        "key": str(pki.server.key),
        "client-ca": str(pki.trust_bundle),
        "handshake-timeout-s": HEADER_TIMEOUT_S,
    }
    protection = {
        "header-timeout-s": HEADER_TIMEOUT_S,
        "body-grace-s": 1.0,
        "body-min-rate-bps": 500,
        "idle-timeout-s": 5.0,
        "max-connections-per-ip": PER_IP_CAP,
    }
    policies = str(open_policies(tmp_path))
    gateway = GatewayProcess(
        tmp_path, pki, core.url, tls=tls, protection=protection, policies=policies
    ).start()
    yield gateway
    gateway.stop()


async def test_slowloris_does_not_starve_legitimate_traffic(
    process: GatewayProcess, pki: TestPki, tpp: Pem
) -> None:
    """>= 99.9% of legitimate requests succeed; descriptors stay bounded by the caps; attackers cut off."""
    assert process.proc is not None
    pid, ctx = process.proc.pid, pki.client_context(tpp)
    # A TLS-level slowloris needs a valid QWAC: the attackers hold another TPP's. (With the
    # legitimate TPP's own, its per-TPP connection cap would be theirs to fill.)
    attacker = pki.client_context(pki.qwac(organization_name="Misbehaving TPP"))
    baseline = fd_count(pid)
    until = time.monotonic() + ATTACK_S
    holders, heads, bodies, legit = Tally(), Tally(), Tally(), Tally()
    sampler = Sampler(pid)
    connector = aiohttp.TCPConnector(ssl=ctx, limit=LEGIT_WORKERS)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as client:
        url = f"{process.url}/v1/accounts"
        # Signed traffic is flowing when the attack starts (its connections are open): while
        # the event loop runs late, new handshakes are paced and may be refused at accept
        # (listener.HandshakePace), which tests/resilience/test_handshake_flood.py covers.
        await asyncio.gather(*(call(client, url, Tally()) for _ in range(LEGIT_WORKERS)))
        attack = [tcp_holder(process.port, "127.0.0.2", until, holders) for _ in range(TCP_ONLY)]
        attack += [slow_head(process.port, attacker, "127.0.0.3", until, heads) for _ in range(SLOW_HEADS)]
        attack += [slow_post(process.port, attacker, "127.0.0.4", until, bodies) for _ in range(SLOW_BODIES)]
        tasks = [asyncio.create_task(a) for a in attack] + [asyncio.create_task(sampler.run(until + 3))]
        await asyncio.sleep(1.0)  # let the attack build up first
        await asyncio.gather(*(closed_loop(client, url, until, legit) for _ in range(LEGIT_WORKERS)))
    async with asyncio.timeout(ATTACK_S):
        await asyncio.gather(*tasks)
    events = await protection_events(process.metrics_port)

    ok = legit.statuses.get(200, 0)
    peak = max(sampler.fds)
    print(
        f"\nlegitimate: {ok}/{legit.total} ok {legit.statuses} {legit.errors}; "
        f"p99 latency {sorted(legit.latencies)[int(len(legit.latencies) * 0.99)]:.3f} s"
        f"\nfds: baseline {baseline}, peak {peak}, after {sampler.fds[-1]}; "
        f"rss peak {max(sampler.rss) >> 20} MiB"
        f"\nslow heads closed after max {max(heads.lifetimes):.2f} s ({len(heads.lifetimes)} connections, "
        f"{sum(heads.errors.values())} refused); slow bodies {bodies.statuses}; protection events {events}"
    )
    assert legit.total >= 200 and ok / legit.total >= 0.999
    assert peak <= baseline + TCP_ONLY + PER_IP_CAP + SLOW_BODIES + LEGIT_WORKERS + 40
    assert sampler.fds[-1] <= baseline + LEGIT_WORKERS + 10, "attack connections are all gone afterwards"
    assert max(heads.lifetimes) < HEADER_TIMEOUT_S + 2.0
    # Silent TCP sockets from one address are refused at accept: by max-handshakes-per-ip (64)
    # before max-connections-per-ip is reached.
    refused_at_accept = events["refused_connections"] + events["refused_handshakes"]
    assert events["head_timeouts"] > 0 and refused_at_accept > 0 and events["slow_bodies"] > 0
    assert events["handshake_failures"] > 0
    assert bodies.statuses.get(408, 0) > 0
