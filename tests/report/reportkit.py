"""Synthetic gateway logs with known figures, and a reference nearest-rank percentile."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2025, 4, 1, tzinfo=UTC)
SERVICES = ("AIS", "PIS", "PIIS")
PER_DAY = 3 * 1440  # one request per service every minute, at :00 :20 :40
DAYS = 3
OUTAGE_MINUTES = range(600, 630)  # 2025-04-02 10:00-10:29 UTC: the core times out for everybody


def request(
    at: datetime,
    service: str = "AIS",
    *,
    outcome: str = "forwarded",
    status: int = 200,
    code: str | None = None,
    gateway_ms: float = 0.5,
    upstream_ms: float | None = 10.0,
) -> dict[str, Any]:
    """A ``request`` event shaped like ``Pipeline.record`` writes it (structlog, JSON, UTC)."""
    return {
        "request_id": "r-1",
        "method": "GET",
        "route": "accounts",
        "service": service,
        "tpp": "PSDBE-NBB-0123456789",
        "roles": ["PSP_AI"],
        "outcome": outcome,
        "status": status,
        "rule": "rule" if code else None,
        "code": code,
        "shadow": None,
        "gateway_ms": gateway_ms,
        "upstream_ms": upstream_ms if outcome == "forwarded" else None,
        "event": "request",
        "level": "info",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }


def synthetic_events() -> list[dict[str, Any]]:
    """12,960 events over 2025-04-01..03 (4,320 a day, 1,440 per service and day).

    Day 1: all forwarded, response time 0.5 ms + (1..120 ms, each 12 times per service).
    Day 2: the same, but minutes 600-629 answer 504 upstream_error after 30 s, for every service.
    Day 3: per service, 36 x 429 ACCESS_EXCEEDED and 36 x 401 CERTIFICATE_INVALID; PIS alone also
    answers 36 x 503 (maintenance), each alone in its minute.
    """
    events = []
    for i in range(DAYS * PER_DAY):
        service, j = SERVICES[i % 3], i // 3  # j: the minute, and the per-service sequence number
        day, minute = divmod(j, 1440)
        at = T0 + timedelta(seconds=20 * i)
        event = request(at, service, upstream_ms=float(j % 120 + 1))
        if day == 1 and minute in OUTAGE_MINUTES:
            event = request(
                at, service, outcome="upstream_error", status=504, code="GATEWAY_TIMEOUT", gateway_ms=30000.0
            )
        elif day == 2 and minute % 40 == 0:
            event = request(at, service, outcome="rejected", status=429, code="ACCESS_EXCEEDED")
        elif day == 2 and minute % 40 == 1:
            event = request(at, service, outcome="rejected", status=401, code="CERTIFICATE_INVALID")
        elif day == 2 and minute % 40 == 2 and service == "PIS":
            event = request(at, service, outcome="rejected", status=503, code="SERVICE_UNAVAILABLE")
        events.append(event)
    return events


def lines(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(e) for e in events]


def nearest_rank(values: list[float], q: float) -> float:
    """The exact ``ceil(q * n)``-th smallest value: what the sketch approximates."""
    return sorted(values)[max(1, math.ceil(q * len(values))) - 1]


def response_ms(event: dict[str, Any]) -> float:
    return float(event["gateway_ms"]) + float(event["upstream_ms"] or 0.0)


# Two scrapes of /metrics with known increases (see test_prometheus_report).
_AIS = 'route="accounts",service="AIS",method="GET"'
SCRAPE_START = f"""\
# HELP psd2gw_requests_total Requests.
# TYPE psd2gw_requests_total counter
psd2gw_requests_total{{{_AIS},outcome="forwarded",status="200"}} 100.0
psd2gw_requests_total{{{_AIS},outcome="rejected",status="429"}} 10.0
psd2gw_requests_created{{{_AIS},outcome="forwarded",status="200"}} 1.7435e+09
# TYPE psd2gw_policy_rejections_total counter
psd2gw_policy_rejections_total{{rule="aisp-frequency",mode="enforce",code="ACCESS_EXCEEDED"}} 10.0
# TYPE psd2gw_gateway_duration_seconds histogram
psd2gw_gateway_duration_seconds_bucket{{service="AIS",le="0.00025"}} 0.0
psd2gw_gateway_duration_seconds_bucket{{service="AIS",le="0.0005"}} 110.0
psd2gw_gateway_duration_seconds_bucket{{service="AIS",le="+Inf"}} 110.0
psd2gw_gateway_duration_seconds_count{{service="AIS"}} 110.0
psd2gw_gateway_duration_seconds_sum{{service="AIS"}} 0.04
# TYPE psd2gw_upstream_duration_seconds histogram
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="0.025"}} 0.0
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="0.05"}} 50.0
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="0.1"}} 100.0
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="+Inf"}} 100.0
psd2gw_upstream_duration_seconds_count{{service="AIS"}} 100.0
psd2gw_upstream_duration_seconds_sum{{service="AIS"}} 5.0
"""
# Between the scrapes, AIS: 900 forwarded (450 in 25-50 ms, 450 in 50-100 ms), 50 rejected 429 and
# 50 upstream_error 504; all 1000 spent 0.25-0.5 ms in the gateway. PIS appears: 100 forwarded.
SCRAPE_END = f"""\
# TYPE psd2gw_requests_total counter
psd2gw_requests_total{{{_AIS},outcome="forwarded",status="200"}} 1000.0
psd2gw_requests_total{{{_AIS},outcome="rejected",status="429"}} 60.0
psd2gw_requests_total{{{_AIS},outcome="upstream_error",status="504"}} 50.0
psd2gw_requests_total{{route="payments",service="PIS",method="POST",outcome="forwarded",status="201"}} 100.0
# TYPE psd2gw_policy_rejections_total counter
psd2gw_policy_rejections_total{{rule="aisp-frequency",mode="enforce",code="ACCESS_EXCEEDED"}} 60.0
psd2gw_policy_rejections_total{{rule="signature",mode="shadow",code="SIGNATURE_INVALID"}} 7.0
# TYPE psd2gw_gateway_duration_seconds histogram
psd2gw_gateway_duration_seconds_bucket{{service="AIS",le="0.00025"}} 0.0
psd2gw_gateway_duration_seconds_bucket{{service="AIS",le="0.0005"}} 1110.0
psd2gw_gateway_duration_seconds_bucket{{service="AIS",le="+Inf"}} 1110.0
psd2gw_gateway_duration_seconds_count{{service="AIS"}} 1110.0
psd2gw_gateway_duration_seconds_sum{{service="AIS"}} 0.44
# TYPE psd2gw_upstream_duration_seconds histogram
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="0.025"}} 0.0
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="0.05"}} 500.0
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="0.1"}} 1000.0
psd2gw_upstream_duration_seconds_bucket{{service="AIS",le="+Inf"}} 1000.0
psd2gw_upstream_duration_seconds_count{{service="AIS"}} 1000.0
psd2gw_upstream_duration_seconds_sum{{service="AIS"}} 50.0
"""
