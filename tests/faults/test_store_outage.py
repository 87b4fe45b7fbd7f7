"""Redis killed, frozen and restarted under load: every rule keeps its ``fail`` promise, in time.

Two gateway processes share a Redis of the test's own (budget 50 ms) while a few background
clients keep calling three routes: ``request-id-replay`` and ``access-frequency`` (fail closed:
503 SERVICE_UNAVAILABLE with Retry-After) and ``rate-limit`` (fail open: counted per process).
Client-side latencies bound how long any request waits on the store; after Redis returns,
``/readyz`` says so and decisions are shared again within 2 s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from faultkit import Answer, Load, SpawnGateways, call, percentile, poll, readyz, rid, write_policies
from support.cores import RecordingCore
from support.pki import Pem
from support.process import GatewayProcess
from support.redis_server import RedisServer

pytestmark = pytest.mark.resilience

BUDGET_MS = 50
# Generous on purpose: a shared 2-core CI box with two gateway processes, Redis and the test.
MARGIN_S = 0.3
LIMIT = 5
OUTAGE_S = 1.5
RECOVERY_S = 2.0
POLICIES = f"""
defaults:
  policies: [request-id]
routes:
  - name: replay
    service: PIS
    path: /v1/payments/**
    methods: [GET]
    policies: [request-id-replay]
  - name: frequency
    service: AIS
    path: /v1/accounts/**
    methods: [GET]
    policies: [access-frequency]
  - name: throughput
    path: /v1/card-accounts/**
    methods: [GET]
    policies:
      - rate-limit:
          key: "{{tpp}}-{{header:X-Bucket}}"
          algorithm: log
          limits: [{{count: {LIMIT}, per: 1h}}]
"""

Caller = Callable[..., Awaitable[Answer]]


def caller(client: aiohttp.ClientSession, gateways: list[GatewayProcess]) -> Caller:
    """``await get(path, gateway_index=None, **headers)``: GET with a fresh X-Request-ID unless given."""
    turn = itertools.count()

    async def get(path: str, at: int | None = None, **headers: str) -> Answer:
        gateway = gateways[next(turn) % len(gateways) if at is None else at]
        return await call(client, "GET", gateway.url + path, {"X-Request-ID": rid(), **headers}, timeout_s=5)

    return get


def unattended(consent: str) -> dict[str, str]:
    return {"Consent-ID": consent}


def assert_fails_closed(answer: Answer) -> None:
    """503 with a Berlin Group body and Retry-After."""
    assert answer.status == 503, (answer.status, answer.body)
    assert answer.code == "SERVICE_UNAVAILABLE"
    assert answer.body["tppMessages"][0]["category"] == "ERROR"
    assert int(answer.headers["Retry-After"]) >= 1


async def shared_count(get: Caller, bucket: str, tries: int = 2 * LIMIT) -> int:
    """Requests that pass a fresh rate-limit bucket, sent alternately to both gateways."""
    answers = [await get("/v1/card-accounts/c", at=i % 2, **{"X-Bucket": bucket}) for i in range(tries)]
    assert {a.status for a in answers} <= {200, 429}
    return sum(a.status == 200 for a in answers)


def start_load(get: Caller) -> list[Load]:
    """Two clients per route; fresh ids, consents and buckets so only the store decides."""
    return [
        Load(lambda: get("/v1/payments/p"), clients=2, max_s=20, max_requests=1500).start(),
        Load(
            lambda: get("/v1/accounts/a", **unattended(rid())), clients=2, max_s=20, max_requests=1500
        ).start(),
        Load(
            lambda: get("/v1/card-accounts/c", **{"X-Bucket": rid()}), clients=2, max_s=20, max_requests=1500
        ).start(),
    ]


def outage_report(name: str, answers: list[Answer]) -> str:
    ms = [a.seconds * 1000 for a in answers]
    return (
        f"{name}: n={len(ms)} p50={percentile(ms, 50):.1f} ms p99={percentile(ms, 99):.1f} ms "
        f"max={max(ms, default=0):.1f} ms"
    )


async def break_store(redis: RedisServer, fault: str) -> None:
    if fault == "freeze":
        redis.freeze()
    else:
        await asyncio.to_thread(redis.kill)


async def mend_store(redis: RedisServer, fault: str) -> None:
    if fault == "freeze":
        redis.thaw()
    else:
        await asyncio.to_thread(redis.start)


@pytest.mark.parametrize("fault", ["kill", "freeze"])
async def test_rules_keep_their_fail_mode_while_redis_is_away(
    gateways: SpawnGateways,
    core: RecordingCore,
    client_for: Callable[[Pem | None], aiohttp.ClientSession],
    tpp: Pem,
    private_redis: RedisServer,
    tmp_path: Path,
    fault: str,
    record_property: Callable[[str, object], None],
) -> None:
    """Closed rules 503 in time, the open rule counts locally; /readyz and shared decisions come back."""
    store = {"url": private_redis.url, "budget-ms": BUDGET_MS}
    pair = await gateways(2, core.url, policies=str(write_policies(tmp_path, POLICIES)), store=store)
    get = caller(client_for(tpp), pair)

    # Before: decisions are shared through Redis.
    used = rid()
    assert (await get("/v1/payments/p", at=0, **{"X-Request-ID": used})).status == 200
    assert (await get("/v1/payments/p", at=1, **{"X-Request-ID": used})).status == 400
    assert await shared_count(get, "before") == LIMIT
    assert [await readyz(g.metrics_port) for g in pair] == [200, 200]

    loads = start_load(get)
    await asyncio.sleep(0.3)
    await break_store(private_redis, fault)
    broken = time.monotonic()
    try:
        await asyncio.sleep(0.2)
        probes = [await get("/v1/payments/p"), await get("/v1/accounts/a", **unattended(rid()))]
        for answer in probes:
            assert_fails_closed(answer)
        # Fail open: each process counts the bucket on its own, so each allows the limit.
        for at in (0, 1):
            local = [
                await get("/v1/card-accounts/c", at=at, **{"X-Bucket": "during"}) for _ in range(LIMIT + 2)
            ]
            assert [a.status for a in local] == [200] * LIMIT + [429, 429]
            probes += local
        assert [await readyz(g.metrics_port) for g in pair] == [503, 503]
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - broken)))
    finally:
        mended_at = time.monotonic()
        await mend_store(private_redis, fault)
    mended = time.monotonic()

    # After: ready again and decisions shared again within RECOVERY_S of Redis answering.
    ready_s = await poll(lambda: _all_ready(pair), RECOVERY_S)

    async def replay_refused_across_processes() -> bool:
        fresh = rid()
        first = await get("/v1/payments/p", at=0, **{"X-Request-ID": fresh})
        return (
            first.status == 200
            and (await get("/v1/payments/p", at=1, **{"X-Request-ID": fresh})).status == 400
        )

    shared_s = await poll(replay_refused_across_processes, RECOVERY_S)
    if fault == "freeze":  # the same Redis, with its data: the id used before is still refused
        assert (await get("/v1/payments/p", at=1, **{"X-Request-ID": used})).status == 400
    assert await shared_count(get, "after") == LIMIT
    await asyncio.sleep(0.3)
    for load in loads:
        await load.stop()

    # Sent after the fault (a short grace for requests already with Redis) and answered before
    # it was mended: no Redis could have decided these.
    window = (broken + 0.1, mended_at)
    closed = [a for load in loads[:2] for a in load.since(*window)]
    opened = loads[2].since(*window)
    assert closed and opened, "the load ran during the outage"
    assert all(a.status == 503 for a in closed), {a.status for a in closed}
    for answer in closed:
        assert_fails_closed(answer)
    assert {a.status for a in opened} == {200}, "rate-limit fails open"
    affected = closed + opened + probes
    worst = max(a.seconds for a in affected)
    report = outage_report(f"{fault} outage", affected)
    for name, load in zip(("replay", "frequency", "rate-limit"), loads, strict=True):
        report += "; " + outage_report(name, load.since(*window))
    everything = [a for load in loads for _, a in load.answers]
    report += f"; whole run {outage_report('all', everything)}; ready after {ready_s * 1000:.0f} ms, "
    report += f"shared after {shared_s * 1000:.0f} ms (Redis answering {(mended - mended_at) * 1000:.0f} ms)"
    record_property("latency", report)
    print(report)
    assert worst <= BUDGET_MS / 1000 + MARGIN_S, report
    assert max(a.seconds for a in everything) <= BUDGET_MS / 1000 + MARGIN_S, report
    assert not [e for load in loads for e in load.errors], "no client error or timeout"
    assert {a.status for a in everything} <= {200, 400, 429, 503}


async def test_restart_under_load_loses_nothing_but_time(
    gateways: SpawnGateways,
    core: RecordingCore,
    client_for: Callable[[Pem | None], aiohttp.ClientSession],
    tpp: Pem,
    private_redis: RedisServer,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """A quick restart: answers stay bounded and well-formed; closed rules never pass unchecked."""
    store = {"url": private_redis.url, "budget-ms": BUDGET_MS}
    pair = await gateways(2, core.url, policies=str(write_policies(tmp_path, POLICIES)), store=store)
    get = caller(client_for(tpp), pair)
    loads = start_load(get)
    await asyncio.sleep(0.3)
    await asyncio.to_thread(private_redis.restart)
    restarted = time.monotonic()
    await poll(lambda: _all_ready(pair), RECOVERY_S)
    await asyncio.sleep(max(0.0, restarted + RECOVERY_S + 0.7 - time.monotonic()))
    for load in loads:
        await load.stop()
    everything = [a for load in loads for _, a in load.answers]
    report = outage_report("restart", everything)
    record_property("latency", report)
    print(report)
    assert max(a.seconds for a in everything) <= BUDGET_MS / 1000 + MARGIN_S, report
    for answer in [a for load in loads[:2] for a in load.since(0)]:
        assert answer.status in (200, 503)
        if answer.status == 503:
            assert_fails_closed(answer)
    # Once Redis is back, the closed rules are decided by Redis again (no more 503s).
    late = [a for load in loads[:2] for a in load.since(restarted + RECOVERY_S)]
    assert late and {a.status for a in late} == {200}
    assert not [e for load in loads for e in load.errors]


async def _all_ready(processes: list[GatewayProcess]) -> bool:
    return all([await readyz(p.metrics_port) == 200 for p in processes])
