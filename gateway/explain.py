"""``psd2-gateway policies explain``: what a policy set does with one request, rule by rule.

For policy authors, before deploying: the route that matches, then each policy in order with
its decision and why. State to assume is given, not fetched: consent facts
(``--consent recurring=false,frequency=1,sca-minutes-ago=25``) and ``--prior N`` earlier
identical requests (e.g. 3 accesses already today), which are replayed against an in-memory
store ``PRIOR_SPACING_MIN`` minutes apart (beyond the 15-minute pagination window, so each one
counts) before the explained one. Nothing is sent anywhere.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.consents import ConsentFacts
from gateway.decisions import StoreDecisions
from gateway.eidas.oids import Role
from gateway.errors import Reject
from gateway.exchange import Exchange
from gateway.identity import synthetic_identity
from gateway.policyset import PolicySet
from gateway.registry import TppEntry
from gateway.store.memory import MemoryStore
from gateway.target import parse_target

MINUTE_MS = 60_000
PRIOR_SPACING_MIN = 20


@dataclass
class Assumed:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    host: str | None = None
    tpp: str = "PSDBE-NBB-0123456789"
    roles: frozenset[Role] = frozenset(Role)
    consent: dict[str, str] = field(default_factory=dict)
    prior: int = 0
    now_ms: int = 0


@dataclass
class Step:
    rule: str
    mode: str
    decision: str  # pass | reject | shadow-reject
    detail: str = ""


@dataclass
class Explanation:
    route: str
    steps: list[Step]
    final: str

    def render(self) -> str:
        width = max((len(s.rule) for s in self.steps), default=10) + 2
        lines = [f"route: {self.route}"]
        for number, step in enumerate(self.steps, 1):
            mode = " (shadow)" if step.mode == "shadow" else ""
            detail = f"  {step.detail}" if step.detail else ""
            lines.append(f"{number:>3}. {step.rule + mode:<{width + 9}} {step.decision.upper()}{detail}")
        lines.append(f"decision: {self.final}")
        return "\n".join(lines)


async def explain(policy_set: PolicySet, request: Assumed) -> Explanation:
    store = MemoryStore()
    for earlier in range(request.prior, 0, -1):
        when = request.now_ms - earlier * PRIOR_SPACING_MIN * MINUTE_MS
        with contextlib.suppress(Reject):  # a refused earlier request counted nothing, as in the gateway
            await _run(policy_set, request, store, when, steps=None)
    steps: list[Step] = []
    try:
        route = await _run(policy_set, request, store, request.now_ms, steps)
    except Reject as reject:
        name = steps[-1].rule if steps else "routing"
        return Explanation(
            _route_name(policy_set, request), steps, f"{reject.status} {reject.code.value} ({name})"
        )
    return Explanation(route, steps, "forwarded to the core")


async def _run(
    policy_set: PolicySet, request: Assumed, store: MemoryStore, now_ms: int, steps: list[Step] | None
) -> str:
    headers = dict(request.headers)
    headers.setdefault("X-Request-ID", str(uuid.uuid4()))
    target = parse_target(request.path)
    route = policy_set.router.match(request.method, request.host, target.path)
    ex = _exchange(request, target, headers, now_ms)
    ex.route = route
    decisions = StoreDecisions(store)
    for bound in route.policies:
        ex.current, ex.deferred, ex.shadow_rejections = bound, [], []
        step = Step(bound.name, bound.mode, "pass")
        if steps is not None:
            steps.append(step)
        try:
            await bound.policy.enforce(ex)
            await decisions.decide(ex)
        except Reject as reject:
            step.decision, step.detail = "reject", f"{reject.status} {reject.code.value}: {reject.text}"
            if bound.mode == "enforce":
                raise
            step.decision = "shadow-reject"
        step.detail = step.detail or _shadow_detail(ex)
    return route.name


def _exchange(request: Assumed, target: object, headers: dict[str, str], now_ms: int) -> Exchange:
    ex = Exchange(
        method=request.method,
        target=target,  # type: ignore[arg-type]
        headers=CIMultiDictProxy(CIMultiDict(headers)),
        peer_ip="127.0.0.1",
        started=0.0,
        now_ms=now_ms,
        body=request.body,
    )
    ex.identity = synthetic_identity(request.tpp, "(explain)", request.roles)
    ex.registration = TppEntry(status="active")
    ex.roles = request.roles
    ex.request_id = headers["X-Request-ID"]
    ex.consent_id = headers.get("Consent-ID", "")
    ex.consent = _consent(request, ex.consent_id) if request.consent else None
    return ex


def _consent(request: Assumed, consent_id: str) -> ConsentFacts:
    given = request.consent
    sca_ago = given.get("sca-minutes-ago")
    return ConsentFacts(
        consent_id=consent_id or "consent",
        owner=request.tpp,
        recurring=given.get("recurring", "true").lower() == "true",
        frequency_per_day=int(given["frequency"]) if "frequency" in given else None,
        valid_until=given.get("valid-until"),
        status=given.get("status", "valid"),
        sca_time_ms=request.now_ms - int(float(sca_ago) * MINUTE_MS) if sca_ago is not None else None,
    )


def _shadow_detail(ex: Exchange) -> str:
    return "; ".join(f"would reject {r.code.value}" for r in ex.shadow_rejections)


def _route_name(policy_set: PolicySet, request: Assumed) -> str:
    try:
        return policy_set.router.match(request.method, request.host, parse_target(request.path).path).name
    except Reject as reject:
        return f"none ({reject.status} {reject.code.value})"


def parse_pairs(text: str) -> dict[str, str]:
    """``a=1,b=2`` -> {"a": "1", "b": "2"} (for --consent)."""
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("expected name=value pairs separated by commas")
    return {name.strip(): value.strip() for name, value in pairs}


def parse_headers(values: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon:
            raise ValueError(f"header {value!r} is not 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers
