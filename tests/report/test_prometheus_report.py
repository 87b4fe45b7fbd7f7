"""Prometheus mode: exact counts from two hand-written scrapes, percentiles by bucket interpolation."""

from __future__ import annotations

from pathlib import Path

import pytest
from reportkit import SCRAPE_END, SCRAPE_START

from gateway.report import ReportError
from gateway.report.prometheus import bucket_quantile, increase, load_scrape, parse_scrape, rows_from_scrapes
from gateway.report.stats import Row


@pytest.fixture
def rows() -> dict[str, Row]:
    return {
        r.service: r for r in rows_from_scrapes(parse_scrape(SCRAPE_START), parse_scrape(SCRAPE_END), "Q2")
    }


def test_requests_availability_and_error_rates_are_exact(rows: dict[str, Row]) -> None:
    ais = rows["AIS"]
    assert (ais.requests, ais.downtime_min) == (1000, None)
    assert (ais.availability_pct, ais.rejected_pct, ais.server_error_pct) == (95.0, 5.0, 5.0)
    assert list(rows) == ["AIS", "PIS", "ALL"]
    assert rows["ALL"].requests == 1100
    assert rows["ALL"].rejections == {"ACCESS_EXCEEDED": 50}


def test_latency_is_the_exact_mean_and_interpolated_percentiles(rows: dict[str, Row]) -> None:
    ais = rows["AIS"]
    assert ais.mean_ms == pytest.approx(1000 * (0.4 + 45.0) / 1000)
    # Gateway: rank 500 of 1000 in (0.25, 0.5] ms. Core: 100 not forwarded count as 0 ms, so
    # rank 500 of 1000 lies in (25, 50] ms with 100 below and 450 inside.
    p50 = (0.25 + 0.25 * 500 / 1000) + (25 + 25 * (500 - 100) / 450)
    p95 = (0.25 + 0.25 * 950 / 1000) + (50 + 50 * (950 - 550) / 450)
    assert ais.p50_ms == pytest.approx(p50)
    assert ais.p95_ms == pytest.approx(p95)
    assert rows["PIS"].p50_ms is None  # these scrapes hold no PIS histogram


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.075), (0.25, 0.0375), (0.99, 0.1), (1.0, 0.1)],
)
def test_bucket_quantile_interpolates_and_stops_at_the_last_finite_bound(q: float, expected: float) -> None:
    buckets = [(0.05, 10.0), (0.1, 20.0), (float("inf"), 30.0)]
    assert bucket_quantile(q, buckets) == pytest.approx(expected)


def test_a_counter_that_went_down_was_reset_and_counts_its_end_value() -> None:
    key = ("psd2gw_requests_total", (("service", "AIS"),))
    assert increase({key: 500.0}, {key: 30.0}) == {key: 30.0}
    assert increase({}, {key: 30.0}) == {key: 30.0}


def test_unreadable_or_malformed_scrapes_are_errors_naming_the_source(tmp_path: Path) -> None:
    bad = tmp_path / "bad.prom"
    bad.write_text('psd2gw_requests_total{service="AIS" 1\n')
    with pytest.raises(ReportError, match=r"bad\.prom"):
        load_scrape(str(bad))
    with pytest.raises(ReportError, match=r"absent\.prom"):
        load_scrape(str(tmp_path / "absent.prom"))
