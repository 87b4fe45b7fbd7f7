"""Aggregate request events per period and service into the rows of the EBA statistics.

Definitions (EBA/GL/2018/07 Guideline 2.2-2.4 and Guideline 3; RTS Art. 32(4)):

* A request *failed* when the gateway or the core could not serve it: ``outcome`` is
  ``upstream_error`` or ``status`` >= 500. A planned maintenance window (503) counts as failed:
  GL 2.4 does not exclude planned downtime.
* ``availability_pct`` = share of requests that did not fail (request-weighted), and
  ``server_error_pct`` = 100 - availability: the "error response rate" of GL 2.3(b)/(d).
* ``downtime_min`` (GL 2.2(b), 2.4(b)): UTC minutes in which at least ``down_threshold`` of the
  requests failed; the default 1.0 means "every request of that minute failed". A minute without
  requests is not down (there is no evidence either way). Uptime in the GL 2.4(a) sense is
  ``100 - 100 * downtime_min / minutes in the period``.
* ``rejected_pct``: share of 4xx answers with outcome ``rejected`` (a policy said no), with the
  count per Berlin Group code kept in ``Row.rejections``.
* Response time (GL 2.3(a)) = ``gateway_ms + upstream_ms`` per request: the exact mean and the
  p50/p95/p99 of a log-bucket sketch (``LatencySketch``, relative error at most 0.5%).

Periods are UTC calendar days, ISO weeks (``2025-W14``), months (``2025-04``) or quarters
(``2025-Q2``). Each period gets one row per service plus an ``ALL`` row across services.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from gateway.report.logs import RequestEvent

PERIODS = ("day", "week", "month", "quarter")
ALL = "ALL"
SERVICE_ORDER = ("AIS", "PIS", "PIIS", "SBS", "OAUTH", "OTHER")
_MINUTES_PER_DAY = 1440


def period_key(day: date, by: str) -> str:
    """The label of the period ``day`` falls in: ``2025-04-01``, ``2025-W14``, ``2025-04``, ``2025-Q2``."""
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return f"{day.year}-{day.month:02d}"
    if by == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise ValueError(f"unknown period {by!r}; expected one of {', '.join(PERIODS)}")


class LatencySketch:
    """A fixed log-bucket histogram of milliseconds (the DDSketch mapping, no collapsing).

    A value ``x`` > 0.001 ms goes to bucket ``i = ceil(log_gamma(x))`` with
    ``gamma = (1 + a) / (1 - a)``; bucket ``i`` answers ``2 * gamma**i / (gamma + 1)``, which is
    within a relative ``a`` (0.5%) of every value in it. A quantile is the nearest-rank sample
    (the ``ceil(q * n)``-th smallest), so it is within 0.5% of the exact nearest-rank value.
    Values up to 0.001 ms (the log's resolution) answer 0. About 2,100 buckets cover 1 us to 1,000 s.
    """

    ALPHA = 0.005
    GAMMA = (1 + ALPHA) / (1 - ALPHA)
    _LOG_GAMMA = math.log(GAMMA)
    _FLOOR_MS = 0.001

    def __init__(self) -> None:
        self.count = 0
        self.total_ms = 0.0
        self.zeros = 0
        self.buckets: Counter[int] = Counter()

    def add(self, ms: float) -> None:
        self.count += 1
        self.total_ms += ms
        if ms <= self._FLOOR_MS:
            self.zeros += 1
        else:
            self.buckets[math.ceil(math.log(ms) / self._LOG_GAMMA)] += 1

    def mean(self) -> float | None:
        return self.total_ms / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return 0.0
        seen = self.zeros
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return 2 * self.GAMMA**index / (self.GAMMA + 1)
        raise AssertionError("bucket counts do not add up to count")  # pragma: no cover


@dataclass(slots=True)
class Cell:
    """Counters of one (period, service)."""

    requests: int = 0
    failed: int = 0
    rejected: int = 0
    rejections: Counter[str] = field(default_factory=Counter)
    latency: LatencySketch = field(default_factory=LatencySketch)

    def add(self, event: RequestEvent, failed: bool) -> None:
        self.requests += 1
        self.failed += failed
        if event.outcome == "rejected" and 400 <= event.status < 500:
            self.rejected += 1
            self.rejections[event.code or "UNKNOWN"] += 1
        self.latency.add(event.response_ms)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report; ``None`` is "not measured" (rendered empty)."""

    period: str
    service: str
    requests: int
    availability_pct: float | None
    downtime_min: int | None
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rejected_pct: float | None
    server_error_pct: float | None
    rejections: dict[str, int] = field(default_factory=dict)


def is_failure(event: RequestEvent) -> bool:
    """Not served because of the gateway or the core (see the module docstring)."""
    return event.outcome == "upstream_error" or event.status >= 500


class Aggregator:
    """Feed events with ``add``; ``rows()`` gives the report from ``start`` to ``end`` (inclusive, UTC)."""

    def __init__(self, start: date, end: date, *, by: str = "day", down_threshold: float = 1.0) -> None:
        if end < start:
            raise ValueError(f"the period ends ({end}) before it starts ({start})")
        if not 0 < down_threshold <= 1:
            raise ValueError(f"down threshold {down_threshold} is not in (0, 1]")
        period_key(start, by)  # validates ``by``
        self.by = by
        self.down_threshold = down_threshold
        self.origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
        days = (end - start).days + 1
        self.day_keys = [period_key(start + timedelta(days=d), by) for d in range(days)]
        self.minutes = days * _MINUTES_PER_DAY
        self.cells: dict[tuple[str, str], Cell] = {}
        # Per service: requests and failures per minute of the whole range (4 bytes each).
        self.per_minute: dict[str, tuple[array[int], array[int]]] = {}
        self.out_of_range = 0

    def add(self, event: RequestEvent) -> bool:
        """Count ``event``; ``False`` (and counted in ``out_of_range``) when outside the range."""
        minute = int((event.at - self.origin).total_seconds() // 60)
        if not 0 <= minute < self.minutes:
            self.out_of_range += 1
            return False
        failed = is_failure(event)
        period = self.day_keys[minute // _MINUTES_PER_DAY]
        for service in (event.service, ALL):
            self._cell(period, service).add(event, failed)
            totals, failures = self._minutes(service)
            totals[minute] += 1
            failures[minute] += failed
        return True

    def add_all(self, events: Iterable[RequestEvent]) -> None:
        for event in events:
            self.add(event)

    def rows(self) -> list[Row]:
        downtime = self._downtime()
        keys = sorted(self.cells, key=lambda k: (k[0], service_rank(k[1])))
        return [
            _row(period, service, self.cells[period, service], downtime[period, service])
            for period, service in keys
        ]

    def _cell(self, period: str, service: str) -> Cell:
        cell = self.cells.get((period, service))
        if cell is None:
            cell = self.cells[period, service] = Cell()
        return cell

    def _minutes(self, service: str) -> tuple[array[int], array[int]]:
        pair = self.per_minute.get(service)
        if pair is None:
            pair = self.per_minute[service] = (array("I", [0]) * self.minutes, array("I", [0]) * self.minutes)
        return pair

    def _downtime(self) -> Counter[tuple[str, str]]:
        down: Counter[tuple[str, str]] = Counter()
        for service, (totals, failures) in self.per_minute.items():
            for minute, total in enumerate(totals):
                if total and failures[minute] >= self.down_threshold * total:
                    down[self.day_keys[minute // _MINUTES_PER_DAY], service] += 1
        return down


def service_rank(service: str) -> tuple[int, str]:
    """Known services in their usual order, then others alphabetically, ``ALL`` last."""
    if service == ALL:
        return (len(SERVICE_ORDER) + 1, service)
    if service in SERVICE_ORDER:
        return (SERVICE_ORDER.index(service), service)
    return (len(SERVICE_ORDER), service)


def _row(period: str, service: str, cell: Cell, downtime_min: int) -> Row:
    n = cell.requests
    return Row(
        period=period,
        service=service,
        requests=n,
        availability_pct=100 * (n - cell.failed) / n,
        downtime_min=downtime_min,
        mean_ms=cell.latency.mean(),
        p50_ms=cell.latency.quantile(0.50),
        p95_ms=cell.latency.quantile(0.95),
        p99_ms=cell.latency.quantile(0.99),
        rejected_pct=100 * cell.rejected / n,
        server_error_pct=100 * cell.failed / n,
        rejections=dict(sorted(cell.rejections.items())),
    )
