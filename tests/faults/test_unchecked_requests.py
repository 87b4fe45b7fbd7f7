"""Nothing gets through unchecked: TPP records, the gateway's log and the core's records agree.

A scripted mix of valid and invalid requests goes concurrently through a gateway process in
front of a recording core. Joined on X-Request-ID, the three views must show that only the
requests the script calls valid reached the core, each logged ``forwarded`` with no rule in
its way, and that every request the TPP sent has exactly one log event.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from faultkit import Answer, SpawnGateways, call, rid, sealed_headers, wait_for_events, write_policies
from support.cores import RecordingCore
from support.pki import Pem, TestPki

from gateway.eidas.issue import IssuedCertificate
from gateway.eidas.oids import Role

pytestmark = pytest.mark.resilience

RATE_LIMIT = 5
POLICIES = f"""
defaults:
  policies:
    - request-id
    - request-id-replay: {{window-s: 3600}}
routes:
  - name: accounts
    service: AIS
    path: /v1/accounts/**
    methods: [GET]
    policies:
      - tpp-role: {{any-of: [PSP_AI]}}
  - name: card-accounts
    service: AIS
    path: /v1/card-accounts/**
    methods: [GET]
    policies:
      - tpp-role: {{any-of: [PSP_AI]}}
      - rate-limit: {{key: "{{tpp}}-{{route}}", algorithm: log, limits: [{{count: {RATE_LIMIT}, per: 1h}}]}}
  - name: payments
    service: PIS
    path: /v1/payments/**
    methods: [POST]
    policies:
      - tpp-role: {{any-of: [PSP_PI]}}
      - qseal-signature: {{audit: false}}
"""
PAYMENT = "/v1/payments/sepa-credit-transfers"
BODY = json.dumps({"instructedAmount": {"currency": "EUR", "amount": "12.00"}}).encode()


@dataclass
class Step:
    """One scripted request and what the script says about it.

    ``verdict``: "valid" (must be forwarded), "invalid" (must be refused by ``rule``),
    "limited" (valid, but competes for the rate limit), "replay" (one copy of a group sharing
    an X-Request-ID: exactly one copy of the group is forwarded).
    """

    label: str
    who: str
    method: str
    path: str
    headers: dict[str, str]
    verdict: str
    rule: str | None = None
    body: bytes | None = None
    answer: Answer | None = None

    @property
    def request_id(self) -> str:
        return self.headers.get("X-Request-ID", "")


def script(seal: IssuedCertificate) -> list[Step]:
    steps: list[Step] = []
    for i in range(6):
        steps.append(
            Step("valid read", "all", "GET", f"/v1/accounts/acc-{i}", {"X-Request-ID": rid()}, "valid")
        )
        sealed = sealed_headers(seal, PAYMENT, BODY)
        steps.append(Step("valid payment", "all", "POST", PAYMENT, sealed, "valid", body=BODY))
    for _ in range(RATE_LIMIT + 4):
        steps.append(
            Step("rate limited", "all", "GET", "/v1/card-accounts/c1", {"X-Request-ID": rid()}, "limited")
        )
    for group in range(3):
        shared = rid()
        for _ in range(3):
            path = f"/v1/accounts/replay-{group}"
            steps.append(Step("replayed id", "all", "GET", path, {"X-Request-ID": shared}, "replay"))
    bad_ids = [{"X-Request-ID": "not-a-uuid"}, {}, {"X-Request-ID": rid() + "x"}]
    steps += [
        Step("bad request id", "all", "GET", "/v1/accounts/a", h, "invalid", "request-id") for h in bad_ids
    ]
    steps += [
        Step(
            "wrong role (AIS)",
            "pisp",
            "GET",
            "/v1/accounts/a",
            {"X-Request-ID": rid()},
            "invalid",
            "tpp-role",
        ),
        Step(
            "wrong role (PIS)",
            "aisp",
            "POST",
            PAYMENT,
            sealed_headers(seal, PAYMENT, BODY),
            "invalid",
            "tpp-role",
            body=BODY,
        ),
    ]
    tampered = BODY.replace(b"12.00", b"99.00")
    unsigned = {"X-Request-ID": rid(), "Content-Type": "application/json"}
    steps += [
        Step(
            "bad signature",
            "all",
            "POST",
            PAYMENT,
            sealed_headers(seal, PAYMENT, BODY),
            "invalid",
            "qseal-signature",
            body=tampered,
        ),
        Step("no signature", "all", "POST", PAYMENT, unsigned, "invalid", "qseal-signature", body=BODY),
        Step("unknown route", "all", "GET", "/v1/unknown", {"X-Request-ID": rid()}, "invalid", None),
        Step("wrong method", "all", "DELETE", "/v1/accounts/a", {"X-Request-ID": rid()}, "invalid", None),
    ]
    return steps


async def run_script(
    steps: list[Step], url: str, clients: dict[str, aiohttp.ClientSession], concurrency: int = 8
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(step: Step) -> None:
        async with gate:
            step.answer = await call(clients[step.who], step.method, url + step.path, step.headers, step.body)

    order = list(steps)
    random.Random(7).shuffle(order)
    await asyncio.gather(*(one(s) for s in order))


@pytest.fixture
def seal(pki: TestPki) -> IssuedCertificate:
    return pki.qtsp.issue_qseal(key_type="rsa2048")


@pytest.fixture
async def clients(
    client_for: Callable[[Pem | None], aiohttp.ClientSession], pki: TestPki, tpp: Pem
) -> dict[str, Any]:
    aisp = pki.qwac(roles=[Role.PSP_AI])
    pisp = pki.qwac(roles=[Role.PSP_PI])
    return {"all": client_for(tpp), "aisp": client_for(aisp), "pisp": client_for(pisp)}


async def test_only_valid_requests_reach_the_core_and_each_is_logged_once(
    gateways: SpawnGateways,
    core: RecordingCore,
    clients: dict[str, aiohttp.ClientSession],
    seal: IssuedCertificate,
    tmp_path: Path,
) -> None:
    """Joined on X-Request-ID: core records == forwarded log events == the script's valid requests."""
    (gateway,) = await gateways(1, core.url, policies=str(write_policies(tmp_path, POLICIES)))
    steps = script(seal)
    await run_script(steps, gateway.url, clients)
    events = await wait_for_events(gateway.log_path, len(steps))
    answers = {id(s): s.answer for s in steps}
    assert all(a is not None for a in answers.values())

    # Every TPP request has exactly one log event: per X-Request-ID where the gateway read one,
    # and by (status, code) for the requests whose id it could not read or never looked at.
    assert len(events) == len(steps), "one request event per request, no more, no less"
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_id.setdefault(event["request_id"] or "", []).append(event)
    logged_ids = {s.request_id for s in steps if s.request_id in by_id and s.request_id}
    for request_id in logged_ids:
        sent = [s for s in steps if s.request_id == request_id]
        assert len(by_id[request_id]) == len(sent), request_id
        assert Counter(e["status"] for e in by_id[request_id]) == Counter(s.answer.status for s in sent)  # type: ignore[union-attr]
    unjoined = [s for s in steps if s.request_id not in logged_ids]
    assert Counter((e["status"], e["code"]) for e in by_id.get("", [])) == Counter(
        (s.answer.status, s.answer.code)
        for s in unjoined  # type: ignore[union-attr]
    )
    assert {s.label for s in unjoined} <= {"bad request id", "unknown route", "wrong method"}

    # Every request the core saw was logged as forwarded, with no rule in its way, and was valid.
    core_ids = [seen.header("X-Request-ID")[0] for seen in core.seen]
    assert len(core_ids) == len(set(core_ids)), "no request id reached the core twice"
    forwarded = [e for e in events if e["outcome"] == "forwarded"]
    assert sorted(core_ids) == sorted(e["request_id"] for e in forwarded)
    assert all(e["rule"] is None and e["code"] is None and e["shadow"] is None for e in forwarded)
    for request_id in core_ids:
        verdicts = {s.verdict for s in steps if s.request_id == request_id}
        assert verdicts <= {"valid", "limited", "replay"}, (request_id, verdicts)

    # The script's expectations, request by request.
    valid = [s for s in steps if s.verdict == "valid"]
    assert all(s.answer.status == 200 for s in valid)  # type: ignore[union-attr]
    assert {s.request_id for s in valid} <= set(core_ids)
    limited = [s for s in steps if s.verdict == "limited"]
    assert Counter(s.answer.status for s in limited) == {200: RATE_LIMIT, 429: len(limited) - RATE_LIMIT}  # type: ignore[union-attr]
    for request_id in {s.request_id for s in steps if s.verdict == "replay"}:
        assert core_ids.count(request_id) == 1
        assert sorted(e["outcome"] for e in by_id[request_id]) == ["forwarded", "rejected", "rejected"]
        assert {e["rule"] for e in by_id[request_id]} == {None, "request-id-replay"}
    invalid = [s for s in steps if s.verdict == "invalid"]
    assert not {s.request_id for s in invalid} & set(core_ids), "no refused request reached the core"
    for step in invalid:
        assert step.answer is not None and step.answer.status >= 400, step.label
        if step.rule and step.request_id in logged_ids:
            assert {e["rule"] for e in by_id[step.request_id]} == {step.rule}, step.label
    rejected = [e for e in events if e["outcome"] != "forwarded"]
    assert len(rejected) == len(steps) - len(core_ids)


async def test_unknown_route_request_is_logged_with_its_request_id(
    gateways: SpawnGateways, core: RecordingCore, clients: dict[str, aiohttp.ClientSession], tmp_path: Path
) -> None:
    """A TPP can find its refused request in the bank's log by the X-Request-ID it sent."""
    (gateway,) = await gateways(1, core.url, policies=str(write_policies(tmp_path, POLICIES)))
    request_id = rid()
    answer = await call(clients["all"], "GET", f"{gateway.url}/v1/unknown", {"X-Request-ID": request_id})
    assert answer.status == 404
    (event,) = await wait_for_events(gateway.log_path, 1)
    assert event["request_id"] == request_id
    assert answer.headers.get("X-Request-ID") == request_id
