"""The last step of every request: Prometheus metrics and one structured ``request`` log event.

The log event is an allow-list of fields: route, outcome, codes, timings, the TPP's
organizationIdentifier and roles, and keyed hashes of the PSU and consent identifiers.
Never headers, tokens, bodies, paths (they hold account ids) or parser messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from gateway.errors import Reject
from gateway.exchange import Exchange
from gateway.metrics import Metrics
from gateway.redact import KeyedHasher


@dataclass(slots=True)
class Result:
    status: int
    headers: CIMultiDict[str]
    body: bytes
    outcome: str
    reject: Reject | None = None
    upstream_seconds: float = 0.0


class Recorder:
    def __init__(self, metrics: Metrics, log: Any, hasher: KeyedHasher) -> None:
        self.metrics = metrics
        self.log = log
        self.hasher = hasher
        # Label children by label values: .labels() re-validates and hashes on every call.
        self._requests: dict[tuple[str, ...], Any] = {}
        self._gateway_seconds: dict[str, Any] = {}
        self._upstream_seconds: dict[str, Any] = {}
        self._role_lists: dict[frozenset[Any], list[str]] = {}

    def record(self, ex: Exchange, result: Result, ended: float) -> None:
        """``ended``: ``perf_counter()`` when the answer was ready, the end of the gateway's time."""
        route = ex.route.name if ex.route else "none"
        service = ex.route.service if ex.route else "OTHER"
        profile = ex.route.profile.name if ex.route else "none"
        gateway_s = max(ended - ex.started - result.upstream_seconds, 0.0)
        self._metrics(ex, result, profile, route, service, gateway_s)
        self.log.info(
            "request",
            request_id=ex.request_id or None,
            method=ex.method,
            route=route,
            profile=profile,
            service=service,
            tpp=ex.identity.tpp.organization_id if ex.identity else None,
            roles=self._roles(ex) if ex.identity else None,
            outcome=result.outcome,
            status=result.status,
            rule=result.reject.rule if result.reject else None,
            code=result.reject.code.value if result.reject else None,
            shadow=[f"{r.rule}:{r.code.value}" for r in ex.shadow_rejections] or None,
            consent=self.hasher(ex.headers.get("Consent-ID")),
            psu=self.hasher(ex.headers.get("PSU-ID")),
            psu_corporate=self.hasher(ex.headers.get("PSU-Corporate-ID")),
            gateway_ms=round(gateway_s * 1000, 3),
            upstream_ms=round(result.upstream_seconds * 1000, 3) if result.outcome == "forwarded" else None,
        )

    def _roles(self, ex: Exchange) -> list[str]:
        """The roles as a sorted list, computed once per distinct set (there are at most 16)."""
        roles = self._role_lists.get(ex.roles)
        if roles is None:
            roles = self._role_lists[ex.roles] = sorted(r.value for r in ex.roles)
        return roles

    def _metrics(
        self, ex: Exchange, result: Result, profile: str, route: str, service: str, gateway_s: float
    ) -> None:
        metrics = self.metrics
        labels = (profile, route, service, ex.method, result.outcome, str(result.status))
        counter = self._requests.get(labels)
        if counter is None:
            counter = self._requests[labels] = metrics.requests.labels(*labels)
        counter.inc()
        histogram = self._gateway_seconds.get(service)
        if histogram is None:
            histogram = self._gateway_seconds[service] = metrics.gateway_seconds.labels(service)
        histogram.observe(gateway_s)
        if result.outcome == "forwarded":
            upstream = self._upstream_seconds.get(service)
            if upstream is None:
                upstream = self._upstream_seconds[service] = metrics.upstream_seconds.labels(service)
            upstream.observe(result.upstream_seconds)
        for shadow in ex.shadow_rejections:
            metrics.rejections.labels(shadow.rule, "shadow", shadow.code.value).inc()
        if result.reject is not None:
            metrics.rejections.labels(
                result.reject.rule or "gateway", "enforce", result.reject.code.value
            ).inc()
