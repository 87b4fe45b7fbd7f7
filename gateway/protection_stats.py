"""The protection counters: plain integers the listener, handlers and admission bump, read at scrape time."""

from __future__ import annotations

import collections
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.metrics import Family, family


@dataclass
class ProtectionStats:
    refused_connections: int = 0
    refused_handshakes: int = 0
    refused_tpp_connections: int = 0
    handshake_failures: int = 0
    handshake_failure_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    head_timeouts: int = 0
    malformed_requests: int = 0
    slow_bodies: int = 0
    shed: int = 0
    open_connections: int = 0
    tpp_connections: int = 0
    handshake_limit: int = 0
    in_flight: int = 0
    queued: int = 0


# The handshake failures worth telling apart; any other OpenSSL reason is counted as "other",
# so a client cannot grow the label set.
HANDSHAKE_REASONS = frozenset(
    {
        "CERTIFICATE_VERIFY_FAILED",
        "PEER_DID_NOT_RETURN_A_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "UNSUPPORTED_PROTOCOL",
        "WRONG_VERSION_NUMBER",
        "NO_SHARED_CIPHER",
        "NO_PROTOCOLS_AVAILABLE",
        "HTTP_REQUEST",
        "UNEXPECTED_EOF_WHILE_READING",
        "VERSION_TOO_LOW",
        "NO_SUITABLE_SIGNATURE_ALGORITHM",
    }
)


def handshake_failure_reason(error: BaseException) -> str:
    """A bounded label for why a TLS handshake failed."""
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ssl.SSLError):
        reason = str(error.reason or "")
        return reason if reason in HANDSHAKE_REASONS else "other"
    if isinstance(error, ConnectionError):
        return "reset"
    return "other"


class ProtectionCollector(Collector):
    """The protection counters, read at scrape time."""

    EVENTS = (
        "refused_connections",
        "refused_handshakes",
        "refused_tpp_connections",
        "handshake_failures",
        "head_timeouts",
        "malformed_requests",
        "slow_bodies",
        "shed",
    )
    GAUGES = ("open_connections", "tpp_connections", "handshake_limit", "in_flight", "queued")

    def __init__(self, stats: ProtectionStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Family]:
        stats = self.stats
        yield family(
            CounterMetricFamily,
            "psd2gw_protection_events",
            "Connections refused at accept, handshakes refused at accept, connections over their "
            "TPP's cap closed after the handshake, failed TLS handshakes, request heads too slow, "
            "requests that are not well-formed HTTP/1.1 or over a head limit (400), bodies too slow "
            "(408), requests shed (503).",
            "event",
            ((name, getattr(stats, name)) for name in self.EVENTS),
        )
        yield family(
            GaugeMetricFamily,
            "psd2gw_protection_current",
            "Open TPP connections, of them those counted against a per-TPP cap (client certificate "
            "on the connection), TLS handshakes allowed in progress now (max-handshakes, lower "
            "while the event loop runs late), requests in the pipeline, requests queued.",
            "what",
            ((name, getattr(stats, name)) for name in self.GAUGES),
        )
        yield family(
            CounterMetricFamily,
            "psd2gw_tls_handshake_failures",
            "Failed TLS handshakes with TPPs, by reason (OpenSSL's, bounded; 'timeout', 'reset', 'other').",
            "reason",
            sorted(stats.handshake_failure_reasons.items()),
        )
