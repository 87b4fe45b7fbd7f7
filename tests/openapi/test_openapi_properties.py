"""Property tests: whatever a client sends, compiled validators only ever raise ValidationProblem."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict

from gateway.openapi import ValidationProblem

from .factories import consent_body, shipped

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=30,
)
CONSENT_KEYS = st.sampled_from(
    ["access", "recurringIndicator", "validUntil", "frequencyPerDay", "combinedServiceIndicator"]
)
HEADER_NAMES = st.sampled_from(
    [
        "X-Request-ID",
        "PSU-IP-Address",
        "PSU-Device-ID",
        "PSU-Geo-Location",
        "Consent-ID",
        "TPP-Redirect-Preferred",
        "PSU-Http-Method",
        "TPP-Signature-Certificate",
    ]
)


def only_problems(check: Any, *args: Any) -> None:
    try:
        check(*args)
    except ValidationProblem as problem:
        assert problem.path.startswith(("body", "header.", "query.")) and len(problem.message) < 200


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_value_as_consent_body(value: Any) -> None:
    """An arbitrary JSON value as the whole consent body is accepted or a ValidationProblem."""
    only_problems(shipped("POST", "/v1/consents").body, value, "body")


@settings(max_examples=300, deadline=None)
@given(CONSENT_KEYS, JSON)
def test_any_json_value_in_a_consent_field(key: str, value: Any) -> None:
    """An arbitrary JSON value in one consent field is accepted or a ValidationProblem."""
    only_problems(shipped("POST", "/v1/consents").body, consent_body(**{key: value}), "body")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_as_consent_body(body: bytes) -> None:
    """Arbitrary bytes as the request body are accepted or a ValidationProblem (never a crash)."""
    only_problems(shipped("POST", "/v1/consents").check_body, "application/json", body)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(HEADER_NAMES, st.text(max_size=60), max_size=8))
def test_any_header_strings(headers: dict[str, str]) -> None:
    """Arbitrary strings in Berlin Group headers are accepted or a ValidationProblem."""
    only_problems(shipped("POST", "/v1/consents").check_headers, CIMultiDict(headers))
    only_problems(shipped("GET", "/v1/accounts").check_headers, CIMultiDict(headers))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["bookingStatus", "dateFrom", "withBalance", "pageIndex", "x"]),
            st.text(max_size=30),
        ),
        max_size=6,
    )
)
def test_any_query_strings(pairs: list[tuple[str, str]]) -> None:
    """Arbitrary query values are accepted or a ValidationProblem, also with unknown ones refused."""
    operation = shipped("GET", "/v1/accounts/a/transactions")
    only_problems(lambda: operation.check_query(MultiDict(pairs), reject_unknown=True))


def test_valid_consent_body_roundtrips() -> None:
    """The factory's consent body is valid, so the properties above start from a valid shape."""
    shipped("POST", "/v1/consents").check_body("application/json", json.dumps(consent_body()).encode())
