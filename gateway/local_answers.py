"""Answers the gateway gives itself, on routes declared with ``answer: NAME`` (nothing is forwarded).

``maintenance-windows``: the planned unavailability TPPs should know about (seed 000 announces
windows on the portal; here they are machine-readable), current and coming within 14 days,
from every ``maintenance-window`` rule of the policy set that applies to the calling TPP.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from multidict import CIMultiDict

from gateway.exchange import Exchange
from gateway.policies.maintenance_window import MaintenanceWindowPolicy, announced_windows
from gateway.recording import Result
from gateway.routes import Router

LocalAnswer = Callable[[Exchange, Router], Result]


def maintenance_windows(ex: Exchange, router: Router) -> Result:
    now = dt.datetime.fromtimestamp(ex.now_ms / 1000, dt.UTC)
    tpp = ex.identity.tpp.organization_id if ex.identity else ""
    windows: list[dict[str, object]] = []
    seen: set[int] = set()
    for route in router.routes:
        for bound in route.policies:
            policy = bound.policy
            if isinstance(policy, MaintenanceWindowPolicy) and id(policy) not in seen:
                seen.add(id(policy))
                windows += [
                    w for w in announced_windows(policy.config, now) if not w["tpps"] or tpp in w["tpps"]
                ]
    unique = sorted({json.dumps(w, sort_keys=True) for w in windows})
    body = json.dumps({"maintenanceWindows": [_public(json.loads(w)) for w in unique]}, separators=(",", ":"))
    headers = CIMultiDict(ex.response_headers)
    headers["Content-Type"] = "application/json"
    headers["Cache-Control"] = "max-age=60"
    return Result(200, headers, body.encode(), "answered")


def _public(window: dict[str, object]) -> dict[str, object]:
    return {"start": window["start"], "end": window["end"], "reason": window["reason"]}


LOCAL_ANSWERS: dict[str, LocalAnswer] = {"maintenance-windows": maintenance_windows}
