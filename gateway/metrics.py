"""Prometheus metrics on a registry the app owns (never the global one).

Labels are bounded: route names and services come from the policy set, codes from the
Berlin Group enum, outcomes from a fixed list. No consent ids, request ids or free text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.eidas.revocation import RevocationStats

# Gateway time is usually well under a millisecond: resolve it, and still see slow outliers.
GATEWAY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
UPSTREAM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "psd2gw_requests",
            "Requests by profile (brand), route, service, method, outcome (forwarded, rejected, "
            "upstream_error) and status.",
            ["profile", "route", "service", "method", "outcome", "status"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "psd2gw_policy_rejections",
            "Rejections by rule, mode (enforce or shadow) and Berlin Group code.",
            ["rule", "mode", "code"],
            registry=self.registry,
        )
        self.gateway_seconds = Histogram(
            "psd2gw_gateway_duration_seconds",
            "Time spent in the gateway itself per request (excluding the core).",
            ["service"],
            buckets=GATEWAY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "psd2gw_upstream_duration_seconds",
            "Time waiting for the bank core per forwarded request.",
            ["service"],
            buckets=UPSTREAM_BUCKETS,
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "psd2gw_store_duration_seconds",
            "Round trip of a request's store decision (all its counters in one call).",
            buckets=GATEWAY_BUCKETS,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "psd2gw_store_errors",
            "Store calls that failed or ran out of budget, by the fail decision taken (open, closed).",
            ["decision"],
            registry=self.registry,
        )
        self.certificate_verdicts = Counter(
            "psd2gw_certificate_verdicts",
            "Certificate validations (cache misses) by result: valid or the Berlin Group code.",
            ["result"],
            registry=self.registry,
        )
        self.certificate_leniencies = Counter(
            "psd2gw_certificate_leniencies",
            "Malformed QCStatement encodings accepted in lenient mode, by kind.",
            ["leniency"],
            registry=self.registry,
        )
        self.certificate_expiry_days = Gauge(
            "psd2gw_tpp_certificate_expiry_days",
            "Days until the QWAC of a registered TPP expires (TPPs of the registry only).",
            ["tpp"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "psd2gw_config_reloads",
            "Configuration reloads by what was reloaded (policies, registry, trust) and result.",
            ["what", "result"],
            registry=self.registry,
        )
        self.sandbox_mode = Gauge(
            "psd2gw_sandbox_mode",
            "1 when the gateway runs in sandbox mode (relaxed checks, built-in sandbox core).",
            registry=self.registry,
        )
        self.info = Gauge(
            "psd2gw_policy_set_info",
            "The loaded policy set (value 1).",
            ["source"],
            registry=self.registry,
        )


Family = CounterMetricFamily | GaugeMetricFamily


def family(
    kind: type[Family], name: str, documentation: str, label: str, samples: Iterable[tuple[str, float]]
) -> Family:
    """A metric family with one label, filled from (label value, value) pairs read at scrape time."""
    out = kind(name, documentation, labels=[label])
    for value, number in samples:
        out.add_metric([value], number)
    return out


class RevocationCollector(Collector):
    """Reads the revocation checker's plain counters at scrape time (no per-request cost)."""

    EVENTS = (
        "responder_errors",
        "stale_good_used",
        "crl_refresh_ok",
        "crl_refresh_failed",
        "missing_endpoints",
        "store_errors",
        "ocsp_requests",
    )

    def __init__(self, stats: RevocationStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Family]:
        yield family(
            CounterMetricFamily,
            "psd2gw_revocation_events",
            "Revocation checking events: responder errors, stale GOOD used, CRL refreshes, OCSP requests.",
            "event",
            ((name, getattr(self.stats, name)) for name in self.EVENTS),
        )
        now = time.time()
        yield family(
            GaugeMetricFamily,
            "psd2gw_revocation_crl_age_seconds",
            "Seconds since each CRL was last refreshed.",
            "crl",
            ((url, max(now - at, 0.0)) for url, at in sorted(self.stats.crl_last_refresh.items())),
        )
