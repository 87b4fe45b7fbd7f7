"""Policy sets: loading, route matching, and errors with file, line and YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError
from gateway.errors import Reject
from gateway.policyset import load_policy_set
from gateway.routes import compile_template

SHIPPED = Path(__file__).resolve().parents[1] / "policies" / "berlin-group"


def policy_dir(tmp_path: Path, text: str) -> Path:
    (tmp_path / "routes.yaml").write_text(text)
    return tmp_path


def test_shipped_berlin_group_set_loads() -> None:
    """The shipped set compiles, and every route runs request-id first."""
    policy_set = load_policy_set(SHIPPED, max_body_bytes=1024)
    names = [route.name for route in policy_set.router.routes]
    assert "ais-accounts" in names and "pis-payments" in names and "piis-funds-confirmations" in names
    assert all(route.policies[0].name == "request-id" for route in policy_set.router.routes)


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/v1/accounts", "ais-account-list"),
        ("GET", "/v1/accounts/", "ais-account-list"),
        ("GET", "/v1/accounts/abc/transactions", "ais-accounts"),
        ("POST", "/v1/consents", "ais-consents"),
        ("POST", "/v1/payments/sepa-credit-transfers", "pis-payments"),
        ("POST", "/v1/funds-confirmations", "piis-funds-confirmations"),
        ("GET", "/v2/consents/confirmation-of-funds/c1/status", "piis-consents"),
    ],
)
def test_shipped_routes_match(method: str, path: str, route: str) -> None:
    """Berlin Group paths map to their routes."""
    router = load_policy_set(SHIPPED, max_body_bytes=1024).router
    assert router.match(method, None, path).name == route


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/accountsX", 404),
        ("GET", "/v1/funds-confirmations/x", 404),
        ("DELETE", "/v1/accounts", 405),
    ],
)
def test_unmatched_requests_are_rejected(method: str, path: str, status: int) -> None:
    """No prefix accidents: /v1/accountsX is not /v1/accounts/**."""
    router = load_policy_set(SHIPPED, max_body_bytes=1024).router
    with pytest.raises(Reject) as caught:
        router.match(method, None, path)
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        ("/v1/accounts/{account-id}", "/v1/accounts/abc", True),
        ("/v1/accounts/{account-id}", "/v1/accounts/abc/balances", False),
        ("/v1/accounts/{account-id}/**", "/v1/accounts/abc/balances", True),
        ("/v1/accounts/{account-id}/**", "/v1/accounts/abc", True),
        ("/v1/a.b", "/v1/aXb", False),
    ],
)
def test_path_templates(template: str, path: str, matches: bool) -> None:
    """Templates are literal except {param} and a trailing /**."""
    assert bool(compile_template(template).match(path)) is matches


def test_host_routing(tmp_path: Path) -> None:
    """A route with a host serves only that host."""
    directory = policy_dir(
        tmp_path,
        "routes:\n  - {name: a, path: /x, host: a.bank.example}\n  - {name: b, path: /x}\n",
    )
    router = load_policy_set(directory, max_body_bytes=1).router
    assert router.match("GET", "a.bank.example", "/x").name == "a"
    assert router.match("GET", "b.bank.example", "/x").name == "b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "routes:\n  - name: a\n    path: /x\n    policies: [nope]\n",
            r"routes.yaml:4 routes\[0\].policies\[0\]: unknown policy 'nope'",
        ),
        (
            "routes:\n  - name: a\n    path: x\n",
            r"routes.yaml:3 routes\[0\].path: a path template must start with '/'",
        ),
        (
            "routes:\n  - name: a\n    path: /x\n    methods: [FETCH]\n",
            r"routes\[0\].methods: unknown method 'FETCH'",
        ),
        (
            "routes:\n  - name: a\n    path: /x\n    colour: red\n",
            r"routes.yaml:4 routes\[0\].colour: unknown key",
        ),
        ("routes:\n  - path: /x\n", r"routes\[0\]: missing required key 'name'"),
        (
            "routes:\n  - name: a\n    path: /x\n    policies:\n      - request-id: {mode: loud}\n",
            r"routes.yaml:5 routes\[0\].policies\[0\].request-id.mode: must be one of enforce, shadow",
        ),
        (
            "routes:\n  - name: a\n    path: /x\n    policies:\n      - request-id:\n          headr: X\n",
            r"routes.yaml:6 routes\[0\].policies\[0\].request-id.headr: unknown key",
        ),
        (
            "routes:\n  - {name: a, path: /x}\n  - {name: a, path: /y}\n",
            r"route names must be unique; repeated: a",
        ),
        ("defaults:\n  policies: [x]\n", r"routes.yaml:2 defaults.policies\[0\]: unknown policy 'x'"),
    ],
)
def test_bad_policy_sets_name_file_line_and_path(tmp_path: Path, text: str, expected: str) -> None:
    """Every policy set error says where it is and what is wrong."""
    with pytest.raises(ConfigError, match=expected):
        load_policy_set(policy_dir(tmp_path, text), max_body_bytes=1)


def test_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    """A policy set must exist and contain YAML."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy_set(tmp_path / "missing", max_body_bytes=1)
    with pytest.raises(ConfigError, match=r"no \.yaml files"):
        load_policy_set(tmp_path, max_body_bytes=1)
