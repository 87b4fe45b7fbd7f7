"""policies check (lint, exit codes) and policies explain, through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "policies"


def test_shipped_sets_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    """Both shipped sets pass with no findings."""
    assert (
        main(["policies", "check", "--quiet", str(SHIPPED / "belfius"), str(SHIPPED / "berlin-group")]) == 0
    )
    assert "0 findings" in capsys.readouterr().out


def test_unreachable_route_fails_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A route shadowed by an earlier catch-all is an error and a non-zero exit for CI."""
    (tmp_path / "r.yaml").write_text(
        "routes:\n  - {name: all, path: /v1/accounts/**, methods: [GET, POST]}\n"
        "  - {name: balances, path: '/v1/accounts/{id}/balances', methods: [GET]}\n"
        "  - {name: consents, path: /v1/consents, policies: [access-frequency, consent-binding]}\n"
    )
    assert main(["policies", "check", "--quiet", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "error: route balances: unreachable: route all matches first" in out
    assert "warning: route consents: consent rules run before consent-binding" in out


def test_invalid_set_names_file_line_and_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A load error exits 2 with file, line and YAML path."""
    (tmp_path / "r.yaml").write_text(
        "routes:\n  - name: a\n    path: /a\n    policies:\n      - rate-limit: {}\n"
    )
    assert main(["policies", "check", str(tmp_path)]) == 2
    assert (
        "r.yaml:5 routes[0].policies[0].rate-limit: missing required key 'limits'" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--prior", "3"], "decision: forwarded to the core"),
        (["--prior", "4"], "decision: 429 ACCESS_EXCEEDED (access-frequency)"),
        (["--prior", "4", "-H", "PSU-IP-Address: 192.0.2.1"], "decision: forwarded to the core"),
        (["--roles", "PSP_PI"], "decision: 401 ROLE_INVALID (tpp-role)"),
        (["--consent", "recurring=false,frequency=1,sca-minutes-ago=21"], "decision: 401 CONSENT_EXPIRED"),
        (["--consent", "recurring=false,frequency=1,sca-minutes-ago=5"], "decision: forwarded to the core"),
    ],
)
def test_explain_shows_each_rule_and_the_decision(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The explanation walks the route's rules in order and ends with the gateway's decision."""
    base = [
        "policies",
        "explain",
        str(SHIPPED / "berlin-group"),
        "--path",
        "/v1/accounts/a1/balances",
        "-H",
        "Consent-ID: c1",
        "--now",
        "2025-06-02T09:00:00+00:00",
    ]
    assert main(base + args) == 0
    out = capsys.readouterr().out
    assert out.startswith("route: ais-accounts")
    assert "1. request-id" in out
    assert expected in out
