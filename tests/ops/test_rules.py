"""The Prometheus alert rules: well-formed, documented, and (with promtool) linted and evaluated.

``promtool`` comes with the Debian ``prometheus`` package (``apt-get install -y prometheus``).
Where it is missing the promtool tests skip and say so; the structural tests always run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.metricnames import unknown_series

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "helm" / "psd2-gateway" / "rules" / "psd2-gateway-rules.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (install it with: apt-get install -y prometheus)"
)
EXPECTED_ALERTS = {
    "PSD2GatewayHigh5xxRate",
    "PSD2GatewayUpstreamErrors",
    "PSD2GatewayStoreFailOpen",
    "PSD2GatewayStoreFailClosed",
    "PSD2GatewayLatencyP99High",
    "PSD2GatewayTppCertificateExpiring",
    "PSD2GatewayCrlStale",
    "PSD2GatewayRevocationDegraded",
    "PSD2GatewayConfigReloadFailed",
    "PSD2GatewayDown",
}


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert(name: str) -> dict[str, Any]:
    (found,) = [r for r in rules() if r.get("alert") == name]
    return found


def test_rules_file_parses_into_named_groups() -> None:
    """The file is one `groups:` document with unique group names."""
    document = yaml.safe_load(RULES_FILE.read_text())
    assert list(document) == ["groups"]
    names = [g["name"] for g in document["groups"]]
    assert len(names) == len(set(names))


def test_all_expected_alerts_exist_once() -> None:
    """5xx, upstream errors, store fail-open/closed, p99, QWAC expiry, revocation, reload failures, down."""
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_alert_is_complete(name: str) -> None:
    """Each alert has `for`, a severity, a summary, a description and a runbook hint."""
    rule = alert(name)
    assert rule["for"]
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    for key in ("summary", "description", "runbook"):
        assert rule["annotations"][key].strip(), key


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_alert_uses_only_exported_metrics(name: str) -> None:
    """Expressions name only series the gateway exports (or `up`)."""
    assert unknown_series(alert(name)["expr"]) == []


def test_thresholds_match_the_operations_targets() -> None:
    """p99 above 5 ms and QWAC validity under 14 days are the alerting thresholds."""
    assert alert("PSD2GatewayLatencyP99High")["expr"].rstrip().endswith("> 0.005")
    assert "< 14" in alert("PSD2GatewayTppCertificateExpiring")["expr"]
    assert "up{" in alert("PSD2GatewayDown")["expr"] and "== 0" in alert("PSD2GatewayDown")["expr"]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_promtool_check_rules() -> None:
    """`promtool check rules` accepts the file."""
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


NS = 'namespace="psd2"'
REQ = f'psd2gw_requests_total{{{NS}, route="r", method="GET"'
# alert -> (input series as (series, values)), labels of every series that must trigger it.
SCENARIOS: dict[str, tuple[list[tuple[str, str]], list[dict[str, str]]]] = {
    "PSD2GatewayHigh5xxRate": (
        [
            (f'{REQ}, service="AIS", outcome="forwarded", status="200"}}', "0+60x30"),
            (f'{REQ}, service="AIS", outcome="rejected", status="503"}}', "0+6x30"),
            (f'{REQ}, service="PIS", outcome="forwarded", status="201"}}', "0+60x30"),
            (f'{REQ}, service="PIIS", outcome="rejected", status="503"}}', "0+1x30"),
        ],
        [{"namespace": "psd2", "service": "AIS"}],  # PIIS: all 5xx, but below the traffic floor
    ),
    "PSD2GatewayUpstreamErrors": (
        [
            (f'{REQ}, service="PIS", outcome="forwarded", status="201"}}', "0+60x30"),
            (f'{REQ}, service="PIS", outcome="upstream_error", status="504"}}', "0+3x30"),
            (f'{REQ}, service="AIS", outcome="forwarded", status="200"}}', "0+60x30"),
        ],
        [{"namespace": "psd2", "service": "PIS"}],
    ),
    "PSD2GatewayLatencyP99High": (
        [
            (f'psd2gw_gateway_duration_seconds_bucket{{{NS}, service="PIS", le="0.005"}}', "0+10x30"),
            (f'psd2gw_gateway_duration_seconds_bucket{{{NS}, service="PIS", le="0.01"}}', "0+100x30"),
            (f'psd2gw_gateway_duration_seconds_bucket{{{NS}, service="PIS", le="+Inf"}}', "0+100x30"),
            (f'psd2gw_gateway_duration_seconds_bucket{{{NS}, service="AIS", le="0.001"}}', "0+100x30"),
            (f'psd2gw_gateway_duration_seconds_bucket{{{NS}, service="AIS", le="+Inf"}}', "0+100x30"),
        ],
        [{"namespace": "psd2", "service": "PIS"}],
    ),
    "PSD2GatewayStoreFailOpen": (
        [(f'psd2gw_store_errors_total{{{NS}, decision="open"}}', "0+5x30")],
        [{"namespace": "psd2"}],
    ),
    "PSD2GatewayStoreFailClosed": (
        [
            (f'psd2gw_store_errors_total{{{NS}, decision="closed"}}', "0+5x30"),
            ('psd2gw_store_errors_total{namespace="other", decision="closed"}', "0x30"),
        ],
        [{"namespace": "psd2"}],
    ),
    "PSD2GatewayTppCertificateExpiring": (
        [
            (f'psd2gw_tpp_certificate_expiry_days{{{NS}, tpp="PSDBE-NBB-0123456789"}}', "10x30"),
            (f'psd2gw_tpp_certificate_expiry_days{{{NS}, tpp="PSDDE-BAFIN-1"}}', "90x30"),
        ],
        [{"namespace": "psd2", "tpp": "PSDBE-NBB-0123456789"}],
    ),
    "PSD2GatewayCrlStale": (
        [
            (f'psd2gw_revocation_crl_age_seconds{{{NS}, crl="http://qtsp.example/a.crl"}}', "0+3600x30"),
            (f'psd2gw_revocation_crl_age_seconds{{{NS}, crl="http://qtsp.example/b.crl"}}', "600x30"),
        ],
        [{"namespace": "psd2", "crl": "http://qtsp.example/a.crl"}],  # 0 s, +1 h per step -> 20 h at 20m
    ),
    "PSD2GatewayRevocationDegraded": (
        [
            (f'psd2gw_revocation_events_total{{{NS}, event="stale_good_used"}}', "0+2x30"),
            ('psd2gw_revocation_events_total{namespace="other", event="stale_good_used"}', "7x30"),
            ('psd2gw_revocation_events_total{namespace="other", event="crl_refresh_ok"}', "0+1x30"),
        ],
        [{"namespace": "psd2"}],
    ),
    "PSD2GatewayConfigReloadFailed": (
        [
            (f'psd2gw_config_reloads_total{{{NS}, what="policies", result="failure"}}', "0x10 1x20"),
            (f'psd2gw_config_reloads_total{{{NS}, what="registry", result="success"}}', "0x10 5x20"),
        ],
        [{"namespace": "psd2", "what": "policies"}],
    ),
    "PSD2GatewayDown": (
        [
            ('up{job="gw-psd2-gateway-metrics", instance="10.0.0.1:9464"}', "0x30"),
            ('up{job="gw-psd2-gateway-metrics", instance="10.0.0.2:9464"}', "1x30"),
            ('up{job="node-exporter", instance="10.0.0.3:9100"}', "0x30"),
        ],
        [{"job": "gw-psd2-gateway-metrics", "instance": "10.0.0.1:9464"}],
    ),
}


def test_every_alert_has_a_scenario() -> None:
    """The promtool evaluation below covers every alert."""
    assert set(SCENARIOS) == EXPECTED_ALERTS


@needs_promtool
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_alert_expression_selects_the_right_series(name: str, tmp_path: Path) -> None:
    """`promtool test rules`: the expression fires for the broken series and only for them."""
    series, firing = SCENARIOS[name]
    # `* 0 + 1` keeps the labels and makes every value exactly 1, so only the selection is tested.
    expr = f"({alert(name)['expr'].strip()}) * 0 + 1"
    test = {
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "20m",
                        "exp_samples": [{"labels": _labels(labels), "value": 1} for labels in firing],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
