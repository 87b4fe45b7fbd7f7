"""The Prometheus series names psd2-gateway exports, for checking dashboards and alert rules.

Read from ``gateway/metrics.py`` (so a renamed metric breaks the dashboard test, not a
dashboard in production), plus the metrics announced for the store and revocation work that
the dashboard and rules already use.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"(psd2gw_[a-z0-9_]+)\"")
SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
}
# Announced, not yet in gateway/metrics.py: (kind, name as declared).
ANNOUNCED = (
    ("Histogram", "psd2gw_store_duration_seconds"),
    ("Counter", "psd2gw_store_errors"),
    ("Counter", "psd2gw_tls_handshake_failures"),
)
ANNOUNCED_PREFIXES = ("psd2gw_revocation_",)
# Series Prometheus itself adds to every target.
SCRAPE_SERIES = frozenset({"up"})
METRIC_NAME = re.compile(r"\b(psd2gw_[a-z0-9_]+)")


def declared() -> list[tuple[str, str]]:
    """(kind, name) of every metric declared in gateway/metrics.py."""
    return DECLARATION.findall((ROOT / "gateway" / "metrics.py").read_text())


def known_series() -> frozenset[str]:
    names = {base + suffix for kind, base in [*declared(), *ANNOUNCED] for suffix in SUFFIXES[kind]}
    return frozenset(names) | SCRAPE_SERIES


def unknown_series(expr: str) -> list[str]:
    """psd2gw_* names in a PromQL expression that the gateway does not export."""
    known = known_series()
    return [
        name
        for name in METRIC_NAME.findall(expr)
        if name not in known and not name.startswith(ANNOUNCED_PREFIXES)
    ]
