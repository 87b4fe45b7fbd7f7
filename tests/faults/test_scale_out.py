"""Scale-out: three gateway processes on one Redis Cluster (three masters) keep every limit exact."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from faultkit import Answer, SpawnGateways, call, rid, sealed_headers, write_policies
from support.cores import RecordingCore
from support.pki import Pem, TestPki
from support.process import GatewayProcess
from support.redis_server import RedisCluster

from gateway.eidas.issue import IssuedCertificate

pytestmark = pytest.mark.resilience

PAYMENT = "/v1/payments/sepa-credit-transfers"
BODY = json.dumps({"instructedAmount": {"currency": "EUR", "amount": "7.00"}}).encode()
POLICIES = """
defaults:
  policies: [request-id]
routes:
  - name: accounts
    service: AIS
    path: /v1/accounts/**
    methods: [GET]
    policies:
      # Every read counts (no free pages): the exact RTS count across processes.
      - access-frequency: {max-per-day: 4, pagination-window-s: 0}
  - name: limited-log
    path: /v1/card-accounts/log/**
    methods: [GET]
    policies:
      - rate-limit: {key: "{tpp}-{header:X-Bucket}", algorithm: log, limits: [{count: 10, per: 1h}]}
  - name: limited-gcra
    path: /v1/card-accounts/gcra/**
    methods: [GET]
    policies:
      - rate-limit: {key: "{tpp}-{header:X-Bucket}", algorithm: gcra, limits: [{count: 10, per: 1h}]}
  - name: payments
    service: PIS
    path: /v1/payments/**
    methods: [POST]
    policies:
      - request-id-replay
      - qseal-signature: {audit: false}
"""


@pytest.fixture
async def trio(
    gateways: SpawnGateways,
    core: RecordingCore,
    redis_cluster: RedisCluster,
    tmp_path: Path,
    client_for: Callable[[Pem | None], aiohttp.ClientSession],
    tpp: Pem,
) -> list[GatewayProcess]:
    """Three processes, each warmed by one request (cluster topology, script, first connections).

    Without the warm-up, the first concurrent burst on a cold process sometimes runs out of the
    store budget and the rate limit fails open (see the module notes in the report).
    """
    store = {"url": redis_cluster.url, "budget-ms": 500}
    started: list[GatewayProcess] = await gateways(
        3, core.url, policies=str(write_policies(tmp_path, POLICIES)), store=store
    )
    client = client_for(tpp)
    for process in started:
        warm = {"X-Request-ID": rid(), "X-Bucket": rid()}
        assert (await call(client, "GET", f"{process.url}/v1/card-accounts/log/warm", warm)).status == 200
    return started


async def spread(
    client: aiohttp.ClientSession,
    trio: list[GatewayProcess],
    count: int,
    method: str,
    path: str,
    headers: Callable[[], dict[str, str]],
    body: bytes | None = None,
) -> list[Answer]:
    """``count`` concurrent requests, round-robin over the three processes."""
    return list(
        await asyncio.gather(
            *(call(client, method, trio[i % 3].url + path, headers(), body) for i in range(count))
        )
    )


async def test_access_frequency_is_exact_across_processes(
    trio: list[GatewayProcess], client_for: Callable[[Pem | None], aiohttp.ClientSession], tpp: Pem
) -> None:
    """50 concurrent unattended reads on one consent over three processes: exactly 4 pass."""
    client = client_for(tpp)
    for _ in range(3):
        consent = rid()
        answers = await spread(
            client,
            trio,
            50,
            "GET",
            "/v1/accounts/acc-1/balances",
            lambda consent=consent: {"X-Request-ID": rid(), "Consent-ID": consent},  # type: ignore[misc]
        )
        assert Counter(a.status for a in answers) == {200: 4, 429: 46}
        assert {a.code for a in answers if a.status == 429} == {"ACCESS_EXCEEDED"}


@pytest.mark.parametrize("algorithm", ["log", "gcra"])
async def test_rate_limit_is_exact_across_processes(
    trio: list[GatewayProcess],
    client_for: Callable[[Pem | None], aiohttp.ClientSession],
    tpp: Pem,
    algorithm: str,
) -> None:
    """60 concurrent requests over three processes against 10 an hour: exactly 10 pass."""
    bucket = rid()
    answers = await spread(
        client_for(tpp),
        trio,
        60,
        "GET",
        f"/v1/card-accounts/{algorithm}/c",
        lambda: {"X-Request-ID": rid(), "X-Bucket": bucket},
    )
    assert Counter(a.status for a in answers) == {200: 10, 429: 50}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status == 429)


async def test_replayed_sealed_request_is_forwarded_once(
    trio: list[GatewayProcess],
    core: RecordingCore,
    client_for: Callable[[Pem | None], aiohttp.ClientSession],
    tpp: Pem,
    pki: TestPki,
) -> None:
    """The same sealed request, 5 copies to each of three processes at once: exactly one forwarded."""
    seal: IssuedCertificate = pki.qtsp.issue_qseal(key_type="rsa2048")
    client = client_for(tpp)
    ids = []
    for _ in range(4):
        headers = sealed_headers(seal, PAYMENT, BODY)
        ids.append(headers["X-Request-ID"])
        answers = await spread(client, trio, 15, "POST", PAYMENT, lambda headers=headers: dict(headers), BODY)  # type: ignore[misc]
        assert Counter(a.status for a in answers) == {200: 1, 400: 14}
        assert {a.code for a in answers if a.status == 400} == {"FORMAT_ERROR"}
    seen = Counter(s.header("X-Request-ID")[0] for s in core.seen if s.target == PAYMENT)
    assert seen == dict.fromkeys(ids, 1)
