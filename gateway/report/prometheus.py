"""The report from two Prometheus scrapes of ``/metrics``: the increase between start and end.

For when the logs are gone but scrapes were kept (or for a quick look at a running gateway).
Counts are exact: ``psd2gw_requests_total`` by ``service``, ``outcome`` and ``status`` gives
requests, availability, rejections and server errors as in ``stats``. A series that went down
between the scrapes was reset (a restart): its increase is taken as its end value, which
undercounts whatever happened before the restart.

Latency is approximate. Percentiles are interpolated linearly inside histogram buckets, as
PromQL's ``histogram_quantile`` does: a value is only known to lie in its bucket, so the error is
up to the bucket's width (e.g. anything between 250 and 500 ms for the core). A rank in the
``+Inf`` bucket answers the highest finite bound. The gateway and core times are separate
histograms, so a percentile of their sum is the sum of their percentiles (exact when both grow
together, an upper bound in practice); requests the core never saw count as 0 ms of core time.
The mean is exact (``_sum / _count``). Downtime minutes need per-request times: not available.
"""

from __future__ import annotations

import math
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.report import ReportError
from gateway.report.stats import ALL, Row, service_rank

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]

REQUESTS = "psd2gw_requests_total"
REJECTIONS = "psd2gw_policy_rejections_total"
GATEWAY = "psd2gw_gateway_duration_seconds"
UPSTREAM = "psd2gw_upstream_duration_seconds"
_FETCH_TIMEOUT_S = 10


def load_scrape(source: str) -> Samples:
    """Every sample of a text-format scrape, from a file or an ``http(s)://`` URL."""
    return parse_scrape(_read(source), source)


def parse_scrape(text: str, source: str = "<scrape>") -> Samples:
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    except ValueError as e:
        raise ReportError(f"{source}: not a Prometheus text-format scrape: {e}") from e
    return samples


def increase(start: Samples, end: Samples) -> Samples:
    """End minus start per series; a series that went down was reset and counts its end value."""
    return {
        key: value - start.get(key, 0.0) if value >= start.get(key, 0.0) else value
        for key, value in end.items()
    }


@dataclass(slots=True)
class _Histogram:
    buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))  # le -> cumulative
    count: float = 0.0
    total: float = 0.0

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        if name.endswith("_bucket"):
            self.buckets[float(labels["le"])] += value
        elif name.endswith("_count"):
            self.count += value
        elif name.endswith("_sum"):
            self.total += value


@dataclass(slots=True)
class _Service:
    requests: float = 0.0
    failed: float = 0.0
    rejected: float = 0.0
    gateway: _Histogram = field(default_factory=_Histogram)
    upstream: _Histogram = field(default_factory=_Histogram)


def rows_from_scrapes(start: Samples, end: Samples, period: str) -> list[Row]:
    """One row per service and an ``ALL`` row for the interval between the two scrapes."""
    services: dict[str, _Service] = defaultdict(_Service)
    rejections: dict[str, int] = defaultdict(int)
    for (name, key), value in increase(start, end).items():
        labels = dict(key)
        for service in (labels.get("service"), ALL):
            if service is not None:
                _add(services[service], name, labels, value)
        if name == REJECTIONS and labels.get("mode") == "enforce" and value:
            rejections[labels.get("code", "UNKNOWN")] += round(value)
    ordered = sorted((s for s in services if services[s].requests), key=service_rank)
    return [_row(period, s, services[s], rejections if s == ALL else {}) for s in ordered]


def _add(service: _Service, name: str, labels: dict[str, str], value: float) -> None:
    if name == REQUESTS:
        status = int(labels.get("status", "0") or 0)
        outcome = labels.get("outcome", "")
        service.requests += value
        service.failed += value if outcome == "upstream_error" or status >= 500 else 0.0
        service.rejected += value if outcome == "rejected" and 400 <= status < 500 else 0.0
    elif name.startswith(GATEWAY + "_"):
        service.gateway.add(name, labels, value)
    elif name.startswith(UPSTREAM + "_"):
        service.upstream.add(name, labels, value)


def _row(period: str, name: str, s: _Service, rejections: Mapping[str, int]) -> Row:
    n = s.requests
    timed = s.gateway.count
    not_forwarded = max(timed - s.upstream.count, 0.0)

    def ms(q: float) -> float | None:
        gateway = bucket_quantile(q, s.gateway.buckets.items())
        upstream = bucket_quantile(q, s.upstream.buckets.items(), zeros=not_forwarded)
        if gateway is None:
            return None
        return 1000 * (gateway + (upstream or 0.0))

    return Row(
        period=period,
        service=name,
        requests=round(n),
        availability_pct=100 * (n - s.failed) / n,
        downtime_min=None,
        mean_ms=1000 * (s.gateway.total + s.upstream.total) / timed if timed else None,
        p50_ms=ms(0.50),
        p95_ms=ms(0.95),
        p99_ms=ms(0.99),
        rejected_pct=100 * s.rejected / n,
        server_error_pct=100 * s.failed / n,
        rejections=dict(sorted(rejections.items())),
    )


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]], zeros: float = 0.0) -> float | None:
    """``histogram_quantile``: linear interpolation inside the cumulative bucket holding rank ``q * n``.

    ``zeros`` adds observations of exactly 0 (they fall in every bucket).
    """
    cumulative = sorted((le, count + zeros) for le, count in buckets)
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for le, count in cumulative:
        if count >= rank and count > below:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower  # pragma: no cover - the +Inf bucket holds every observation


def _read(source: str) -> str:
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=_FETCH_TIMEOUT_S) as response:
                return bytes(response.read()).decode("utf-8")
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{source}: cannot read the scrape: {e}") from e
