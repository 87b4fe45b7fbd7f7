"""Aggregation: exact counts, availability and downtime on a known log; percentiles within 0.5%."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reportkit import T0, nearest_rank, request, response_ms, synthetic_events

from gateway.report.logs import ReadCounts, RequestEvent, parse_line
from gateway.report.stats import Aggregator, LatencySketch, Row, period_key

START, END = date(2025, 4, 1), date(2025, 4, 3)


def _events(raw: list[dict[str, object]]) -> list[RequestEvent]:
    parsed = [parse_line(json.dumps(e).encode(), ReadCounts()) for e in raw]
    assert all(parsed)
    return [e for e in parsed if e is not None]


def _rows(raw: list[dict[str, object]], **options: object) -> dict[tuple[str, str], Row]:
    aggregator = Aggregator(START, END, **options)  # type: ignore[arg-type]
    aggregator.add_all(_events(raw))
    return {(r.period, r.service): r for r in aggregator.rows()}


@pytest.fixture(scope="module")
def synthetic() -> list[dict[str, object]]:
    return synthetic_events()


@pytest.fixture(scope="module")
def daily(synthetic: list[dict[str, object]]) -> dict[tuple[str, str], Row]:
    return _rows(synthetic)


# period, service, requests, availability, downtime, rejected, server errors
EXPECTED = [
    ("2025-04-01", "AIS", 1440, 100.0, 0, 0.0, 0.0),
    ("2025-04-01", "ALL", 4320, 100.0, 0, 0.0, 0.0),
    ("2025-04-02", "PIS", 1440, 100 * 1410 / 1440, 30, 0.0, 100 * 30 / 1440),
    ("2025-04-02", "ALL", 4320, 100 * 4230 / 4320, 30, 0.0, 100 * 90 / 4320),
    ("2025-04-03", "AIS", 1440, 100.0, 0, 5.0, 0.0),
    ("2025-04-03", "PIS", 1440, 97.5, 36, 5.0, 2.5),
    ("2025-04-03", "ALL", 4320, 100 * 4284 / 4320, 0, 5.0, 100 * 36 / 4320),
]


@pytest.mark.parametrize(("period", "service", "n", "avail", "down", "rejected", "errors"), EXPECTED)
def test_daily_counts_availability_and_downtime_are_exact(
    daily: dict[tuple[str, str], Row],
    period: str,
    service: str,
    n: int,
    avail: float,
    down: int,
    rejected: float,
    errors: float,
) -> None:
    row = daily[period, service]
    assert (row.requests, row.downtime_min) == (n, down)
    assert (row.availability_pct, row.rejected_pct, row.server_error_pct) == pytest.approx(
        (avail, rejected, errors)
    )


def test_rows_come_by_day_then_in_service_order_with_all_last(daily: dict[tuple[str, str], Row]) -> None:
    assert list(daily)[:4] == [("2025-04-01", s) for s in ("AIS", "PIS", "PIIS", "ALL")]
    assert len(daily) == 12


def test_rejections_are_counted_per_berlin_group_code(daily: dict[tuple[str, str], Row]) -> None:
    assert daily["2025-04-03", "AIS"].rejections == {"ACCESS_EXCEEDED": 36, "CERTIFICATE_INVALID": 36}
    assert daily["2025-04-03", "ALL"].rejections == {"ACCESS_EXCEEDED": 108, "CERTIFICATE_INVALID": 108}
    assert daily["2025-04-02", "ALL"].rejections == {}  # 5xx are server errors, not rejections


def test_a_clean_day_has_the_hand_computed_response_times(daily: dict[tuple[str, str], Row]) -> None:
    # 0.5 ms in the gateway + 1..120 ms in the core, each 12 times: mean 61, ranks 720/1368/1426.
    row = daily["2025-04-01", "PIIS"]
    assert row.mean_ms == pytest.approx(61.0)
    for got, exact in ((row.p50_ms, 60.5), (row.p95_ms, 114.5), (row.p99_ms, 119.5)):
        assert got == pytest.approx(exact, rel=LatencySketch.ALPHA)


@pytest.mark.parametrize("period", ["2025-04-02", "2025-04-03"])
@pytest.mark.parametrize("service", ["AIS", "PIS", "ALL"])
def test_percentiles_are_within_half_a_percent_of_the_exact_nearest_rank(
    synthetic: list[dict[str, object]], daily: dict[tuple[str, str], Row], period: str, service: str
) -> None:
    values = [
        response_ms(e)
        for e in synthetic
        if str(e["timestamp"]).startswith(period) and service in ("ALL", e["service"])
    ]
    row = daily[period, service]
    assert row.mean_ms == pytest.approx(sum(values) / len(values))
    for q, got in ((0.50, row.p50_ms), (0.95, row.p95_ms), (0.99, row.p99_ms)):
        assert got == pytest.approx(nearest_rank(values, q), rel=LatencySketch.ALPHA)


def test_a_lower_down_threshold_counts_partly_failed_minutes(synthetic: list[dict[str, object]]) -> None:
    # On day 3 one request in three (PIS) fails in 36 minutes: down at 1/3, not at the default 1.0.
    rows = _rows(synthetic, down_threshold=0.3)
    assert rows["2025-04-03", "ALL"].downtime_min == 36
    assert rows["2025-04-02", "ALL"].downtime_min == 30


@pytest.mark.parametrize(
    ("by", "period"), [("week", "2025-W14"), ("month", "2025-04"), ("quarter", "2025-Q2")]
)
def test_longer_periods_add_up_the_days(synthetic: list[dict[str, object]], by: str, period: str) -> None:
    rows = _rows(synthetic, by=by)
    assert set(rows) == {(period, s) for s in ("AIS", "PIS", "PIIS", "ALL")}
    assert (rows[period, "ALL"].requests, rows[period, "ALL"].downtime_min) == (12960, 30)
    assert rows[period, "PIS"].downtime_min == 66
    assert rows[period, "PIS"].rejected_pct == pytest.approx(5 / 3)


@pytest.mark.parametrize(
    ("day", "by", "key"),
    [
        (date(2025, 1, 1), "week", "2025-W01"),
        (date(2024, 12, 30), "week", "2025-W01"),  # ISO week-numbering year
        (date(2025, 12, 31), "quarter", "2025-Q4"),
        (date(2025, 3, 31), "quarter", "2025-Q1"),
        (date(2025, 4, 1), "month", "2025-04"),
        (date(2025, 4, 1), "day", "2025-04-01"),
    ],
)
def test_period_keys(day: date, by: str, key: str) -> None:
    assert period_key(day, by) == key


def test_events_outside_the_range_are_counted_not_reported() -> None:
    aggregator = Aggregator(START, END)
    inside, before, after = T0, T0 - timedelta(microseconds=1), T0 + timedelta(days=3)
    for at in (inside, before, after):
        aggregator.add(_events([request(at)])[0])
    assert aggregator.out_of_range == 2
    assert [r.requests for r in aggregator.rows()] == [1, 1]  # AIS and ALL


def test_a_quiet_minute_is_not_down_and_one_failure_alone_in_its_minute_is() -> None:
    raw = [request(T0, status=200), request(T0 + timedelta(minutes=5), outcome="upstream_error", status=502)]
    assert _rows(raw)["2025-04-01", "ALL"].downtime_min == 1


@pytest.mark.parametrize("options", [{"by": "year"}, {"down_threshold": 0.0}, {"down_threshold": 1.5}])
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Aggregator(START, END, **options)  # type: ignore[arg-type]


@given(
    st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_the_sketch_quantile_is_within_alpha_of_the_exact_one(values: list[float], q: float) -> None:
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    exact = nearest_rank(values, q)
    got = sketch.quantile(q)
    assert got is not None
    if exact <= 0.001:
        assert got == 0.0
    else:
        assert math.isclose(got, exact, rel_tol=LatencySketch.ALPHA + 1e-9)
