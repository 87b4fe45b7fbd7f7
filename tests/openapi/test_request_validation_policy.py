"""The request-validation policy: YAML config, choosing the operation, and the Reject it raises."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config import ConfigError, Where, build
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies import REGISTRY
from gateway.policies.request_validation import RequestValidationConfig, RequestValidationPolicy
from gateway.policyset import load_policy_set
from gateway.render import error_body
from gateway.target import parse_target

from .factories import REQUEST_ID, consent_body

HEADERS = {"X-Request-ID": REQUEST_ID, "Consent-ID": "consent-1", "PSU-IP-Address": "192.168.8.16"}


def policy(**settings: Any) -> RequestValidationPolicy:
    return RequestValidationPolicy(build(RequestValidationConfig, settings, Where("test.yaml")))


def exchange(method: str, target: str, headers: dict[str, str] | None = None, body: Any = None) -> Exchange:
    raw = json.dumps(body).encode() if body is not None else b""
    return Exchange(
        method=method,
        target=parse_target(target),
        headers=CIMultiDictProxy(CIMultiDict(HEADERS if headers is None else headers)),
        peer_ip="127.0.0.1",
        started=time.perf_counter(),
        now_ms=0,
        body=raw,
    )


async def reject_of(p: RequestValidationPolicy, ex: Exchange) -> Reject | None:
    try:
        await p.enforce(ex)
    except Reject as reject:
        return reject
    return None


def test_registered_under_its_yaml_name() -> None:
    """The policy is in the registry as request-validation."""
    assert REGISTRY["request-validation"] is RequestValidationPolicy


async def test_reject_carries_format_error_text_and_path() -> None:
    """A problem becomes 400 FORMAT_ERROR with the element's path in the text and in tppMessages."""
    reject = await reject_of(policy(), exchange("GET", "/v1/accounts/a1/transactions?bookingStatus=maybe"))
    assert reject is not None
    assert (reject.code, reject.status, reject.path) == (Code.FORMAT_ERROR, 400, "query.bookingStatus")
    assert reject.text == "query.bookingStatus must be one of: information, booked, pending, both, all."
    message = json.loads(error_body(reject))["tppMessages"][0]
    assert message["path"] == "query.bookingStatus"


@pytest.mark.parametrize(
    ("settings", "target", "headers", "body", "path"),
    [
        ({}, "/v1/accounts/a1/transactions?bookingStatus=booked", None, None, None),
        ({}, "/v1/accounts", {"X-Request-ID": "nope", "Consent-ID": "c"}, None, "header.X-Request-ID"),
        ({"validate": ["query", "body"]}, "/v1/accounts", {"X-Request-ID": "nope"}, None, None),
        ({}, "/v1/accounts?x=1", None, None, None),
        ({"reject-unknown-query": True}, "/v1/accounts?x=1", None, None, "query.x"),
        ({}, "/v1/consents", None, consent_body(validUntil="soon"), "body.validUntil"),
        ({"validate": ["headers"]}, "/v1/consents", None, consent_body(validUntil="soon"), None),
        ({}, "/v1/payment/sepa-credit-transfers/p1", None, None, "path.payment-service"),
        ({"validate": ["headers"]}, "/v1/payment/sepa-credit-transfers/p1", None, None, None),
    ],
)
async def test_parts_and_settings(
    settings: dict[str, Any], target: str, headers: dict[str, str] | None, body: Any, path: str | None
) -> None:
    """Only the configured parts are checked; unknown query parameters are refused only when configured."""
    method = "POST" if body is not None else "GET"
    reject = await reject_of(policy(**settings), exchange(method, target, headers, body))
    assert (reject.path if reject else None) == path


async def test_unknown_operation_passes_or_is_refused() -> None:
    """A request the spec does not define passes by default, and is SERVICE_INVALID when configured."""
    ex = exchange("GET", "/v1/not-in-the-spec")
    assert await reject_of(policy(), ex) is None
    reject = await reject_of(policy(**{"unknown-operation": "reject"}), ex)
    assert reject is not None and reject.code is Code.SERVICE_INVALID


async def test_explicit_operations_map_bank_paths_to_spec_operations() -> None:
    """With `operations`, a bank's own paths are validated as the mapped spec operations, and only those."""
    p = policy(
        operations={
            "POST /psd2/v1/consents": "createConsent",
            "GET /psd2/v1/accounts/{account-id}": "GET /v1/accounts/{account-id}",
        }
    )
    reject = await reject_of(p, exchange("POST", "/psd2/v1/consents", body=consent_body(frequencyPerDay=0)))
    assert reject is not None and reject.path == "body.frequencyPerDay"
    assert await reject_of(p, exchange("GET", "/psd2/v1/accounts/a1")) is None
    assert await reject_of(p, exchange("POST", "/v1/consents", body=consent_body(frequencyPerDay=0))) is None


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"spec": "/nonexistent/spec.yaml"}, "spec.yaml: cannot read"),
        ({"operations": {"POST /x": "noSuchOperation"}}, "no operation with operationId 'noSuchOperation'"),
        ({"operations": {"GET /x": "createConsent"}}, "maps to POST /v1/consents"),
        ({"operations": {"/x": "createConsent"}}, "must look like 'GET /path/{param}'"),
        ({"validate": ["cookies"]}, "must be one of headers, query, path, body"),
        ({"max-depth": 0}, "must be at least 1"),
        ({"unknown-operation": "drop"}, "must be one of pass, reject"),
    ],
)
def test_bad_config_fails_at_load(settings: dict[str, Any], match: str) -> None:
    """Bad files, unknown operations and bad values are ConfigErrors at load, naming the place."""
    with pytest.raises(ConfigError, match=match) as caught:
        build(
            RequestValidationConfig, settings, Where("test.yaml", "routes[0].policies[0].request-validation")
        )
    assert "test.yaml" in str(caught.value)


def test_policy_set_with_request_validation_loads(tmp_path: Path) -> None:
    """A YAML policy set using request-validation loads, and routes share one compiled spec."""
    (tmp_path / "routes.yaml").write_text(
        """
routes:
  - name: consents
    path: /v1/consents/**
    methods: [POST]
    policies:
      - request-validation: {validate: [headers, body], reject-unknown-query: true}
  - name: accounts
    path: /v1/accounts/**
    policies: [request-validation]
""",
        encoding="utf-8",
    )
    policy_set = load_policy_set(tmp_path, max_body_bytes=1 << 20)
    first, second = (route.policies[0].policy for route in policy_set.router.routes)
    assert isinstance(first, RequestValidationPolicy) and isinstance(second, RequestValidationPolicy)
    assert first.parts == {"headers", "body"}
