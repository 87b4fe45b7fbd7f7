"""The shipped Berlin Group 1.3.11 file: operations found, and each example field checked at its path."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from multidict import CIMultiDict, MultiDict

from gateway.openapi import SHIPPED_SPEC, ValidationProblem, load_compiled

from .factories import REQUEST_ID, consent_body, payment_body, shipped

ACCOUNTS = "/v1/accounts"
TRANSACTIONS = "/v1/accounts/acc-1/transactions"
CONSENTS = "/v1/consents"
PAYMENTS = "/v1/payments/sepa-credit-transfers"


def problem_of(check: Any, *args: Any, **kwargs: Any) -> tuple[str, str] | None:
    try:
        check(*args, **kwargs)
    except ValidationProblem as problem:
        return problem.path, problem.message
    return None


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params"),
    [
        ("GET", "/v1/accounts/acc-1/balances", "getBalances", {"account-id": "acc-1"}),
        ("GET", "/v1/payments/sepa-credit-transfers/p-1", "getPaymentInformation", {"paymentId": "p-1"}),
        ("POST", PAYMENTS, "initiatePayment", {"payment-service": "payments"}),
        ("POST", CONSENTS, "createConsent", {}),
        ("POST", CONSENTS + "/", "createConsent", {}),
        ("GET", "/v1/consents/c-1/authorisations/a-1", "getConsentScaStatus", {"authorisationId": "a-1"}),
        ("DELETE", "/v1/signing-baskets/b-1", "deleteSigningBasket", {"basketId": "b-1"}),
    ],
)
def test_table_finds_the_operation(method: str, path: str, operation_id: str, params: dict[str, str]) -> None:
    """A concrete path finds its operation; literal segments win over {parameters}."""
    found = load_compiled(SHIPPED_SPEC).table().match(method, path)
    assert found is not None
    assert found[0].operation_id == operation_id
    assert params.items() <= found[1].items()


@pytest.mark.parametrize(
    ("method", "path"), [("PATCH", CONSENTS), ("GET", "/v2/consents"), ("GET", "/v1/a/b/c/d/e/f")]
)
def test_table_misses(method: str, path: str) -> None:
    """A method or path the spec does not define finds nothing."""
    assert load_compiled(SHIPPED_SPEC).table().match(method, path) is None


VALID_HEADERS = {"X-Request-ID": REQUEST_ID, "Consent-ID": "consent-1", "PSU-IP-Address": "192.168.8.16"}
HEADER_CASES: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = [
    ("valid", {}, None),
    ("PSU IPv6", {"PSU-IP-Address": "2001:db8::1"}, None),
    ("boolean header", {"TPP-Redirect-Preferred": "true"}, None),
    ("request id not uuid", {"X-Request-ID": "12345"}, ("header.X-Request-ID", "must be a UUID")),
    ("request id missing", {"X-Request-ID": None}, ("header.X-Request-ID", "is required")),
    ("consent id missing", {"Consent-ID": None}, ("header.Consent-ID", "is required")),
    (
        "bad PSU IP",
        {"PSU-IP-Address": "300.1.1.1"},
        ("header.PSU-IP-Address", "must be an IPv4 or IPv6 address"),
    ),
    ("device id", {"PSU-Device-ID": "phone"}, ("header.PSU-Device-ID", "must be a UUID")),
    (
        "http method enum",
        {"PSU-Http-Method": "get"},
        ("header.PSU-Http-Method", "must be one of: GET, POST, PUT, PATCH, DELETE"),
    ),
    (
        "geo pattern",
        {"PSU-Geo-Location": "GEO:52.506931;13.144558x"},
        (
            "header.PSU-Geo-Location",
            "must match the pattern GEO:-?[0-9]{1,2}\\.[0-9]{6};-?[0-9]{1,3}\\.[0-9]{6}",
        ),
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in HEADER_CASES], ids=[c[0] for c in HEADER_CASES]
)
def test_headers_of_get_transactions(changes: dict[str, Any], expected: tuple[str, str] | None) -> None:
    """Berlin Group header parameters are checked by their schema and reported as header.<Name>."""
    headers = {k: v for k, v in {**VALID_HEADERS, **changes}.items() if v is not None}
    assert problem_of(shipped("GET", TRANSACTIONS).check_headers, CIMultiDict(headers)) == expected


def test_boolean_header_must_be_spelled_true_or_false() -> None:
    """A boolean header (TPP-Redirect-Preferred on POST /v1/consents) takes exactly true or false."""
    headers = CIMultiDict({**VALID_HEADERS, "TPP-Redirect-Preferred": "yes"})
    expected = ("header.TPP-Redirect-Preferred", "must be true or false")
    assert problem_of(shipped("POST", CONSENTS).check_headers, headers) == expected


def test_repeated_header_is_refused() -> None:
    """A single-valued header sent twice is a problem, not a silent pick."""
    headers = CIMultiDict([*VALID_HEADERS.items(), ("X-Request-ID", REQUEST_ID)])
    assert problem_of(shipped("GET", TRANSACTIONS).check_headers, headers) == (
        "header.X-Request-ID",
        "must appear once",
    )


QUERY_CASES: list[tuple[str, str, tuple[str, str] | None]] = [
    ("valid", "bookingStatus=booked&dateFrom=2024-01-31&withBalance=true&pageIndex=2", None),
    ("unknown allowed", "bookingStatus=both&foo=bar", None),
    (
        "status enum",
        "bookingStatus=everything",
        ("query.bookingStatus", "must be one of: information, booked, pending, both, all"),
    ),
    ("status missing", "dateFrom=2024-01-31", ("query.bookingStatus", "is required")),
    ("date", "bookingStatus=booked&dateFrom=31.01.2024", ("query.dateFrom", "must be a date (YYYY-MM-DD)")),
    ("boolean", "bookingStatus=booked&withBalance=1", ("query.withBalance", "must be true or false")),
    ("integer", "bookingStatus=booked&pageIndex=two", ("query.pageIndex", "must be an integer")),
    ("twice", "bookingStatus=booked&bookingStatus=pending", ("query.bookingStatus", "must appear once")),
]


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in QUERY_CASES], ids=[c[0] for c in QUERY_CASES])
def test_query_of_get_transactions(query: str, expected: tuple[str, str] | None) -> None:
    """Query parameters are converted to their schema type, checked, and reported as query.<name>."""
    params = MultiDict(parse_qsl(query, keep_blank_values=True))
    assert problem_of(shipped("GET", TRANSACTIONS).check_query, params) == expected


def test_unknown_query_parameter_rejected_when_asked() -> None:
    """With reject_unknown, a parameter the operation does not define is named in the problem."""
    params = MultiDict(parse_qsl("bookingStatus=booked&foo=bar"))
    expected = ("query.foo", "is not a parameter of this operation")
    assert problem_of(shipped("GET", TRANSACTIONS).check_query, params, reject_unknown=True) == expected


@pytest.mark.parametrize(
    ("path_values", "expected"),
    [
        ({"payment-service": "payments", "payment-product": "sepa-credit-transfers"}, None),
        (
            {"payment-service": "payment", "payment-product": "sepa-credit-transfers"},
            ("path.payment-service", "must be one of: payments, bulk-payments, periodic-payments"),
        ),
    ],
)
def test_path_parameters(path_values: dict[str, str], expected: tuple[str, str] | None) -> None:
    """Path parameters are checked against their schemas (payment-service is an enum)."""
    assert problem_of(shipped("POST", PAYMENTS).check_path, path_values) == expected


CONSENT_CASES: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = [
    ("valid", {}, None),
    ("all accounts", {"access": {"availableAccounts": "allAccounts"}}, None),
    ("access missing", {"access": None}, ("body.access", "is required")),
    ("access not object", {"access": []}, ("body.access", "must be an object, not an array")),
    (
        "iban",
        {"access": {"accounts": [{"iban": "DE4010010010330711860!"}]}},
        ("body.access.accounts[0].iban", "must match the pattern [A-Z]{2,2}[0-9]{2,2}[a-zA-Z0-9]{1,30}"),
    ),
    (
        "second account currency",
        {
            "access": {
                "accounts": [
                    {"iban": "DE40100100103307118608"},
                    {"iban": "DE40100100103307118608", "currency": "eur"},
                ]
            }
        },
        ("body.access.accounts[1].currency", "must match the pattern [A-Z]{3}"),
    ),
    (
        "available accounts enum",
        {"access": {"availableAccounts": "everything"}},
        ("body.access.availableAccounts", "must be one of: allAccounts, allAccountsWithOwnerName"),
    ),
    ("recurring missing", {"recurringIndicator": None}, ("body.recurringIndicator", "is required")),
    (
        "recurring string",
        {"recurringIndicator": "true"},
        ("body.recurringIndicator", "must be a boolean, not a string"),
    ),
    ("validUntil date", {"validUntil": "2030-02-30"}, ("body.validUntil", "must be a date (YYYY-MM-DD)")),
    (
        "frequency integer",
        {"frequencyPerDay": 1.5},
        ("body.frequencyPerDay", "must be an integer, not a number"),
    ),
    ("frequency minimum", {"frequencyPerDay": 0}, ("body.frequencyPerDay", "must be at least 1")),
    (
        "combined boolean",
        {"combinedServiceIndicator": "no"},
        ("body.combinedServiceIndicator", "must be a boolean, not a string"),
    ),
    (
        "combined missing",
        {"combinedServiceIndicator": None},
        ("body.combinedServiceIndicator", "is required"),
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in CONSENT_CASES], ids=[c[0] for c in CONSENT_CASES]
)
def test_consent_body(changes: dict[str, Any], expected: tuple[str, str] | None) -> None:
    """POST /v1/consents: each field of the consent body is checked and named by its JSON path."""
    body = json.dumps(consent_body(**changes)).encode()
    assert problem_of(shipped("POST", CONSENTS).check_body, "application/json", body) == expected


PAYMENT_CASES: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = [
    ("valid", {}, None),
    ("name of 70", {"creditorName": "x" * 70}, None),
    ("name of 71", {"creditorName": "x" * 71}, ("body.creditorName", "must be at most 70 characters long")),
    (
        "currency",
        {"instructedAmount": {"currency": "EURO", "amount": "1.00"}},
        ("body.instructedAmount.currency", "must match the pattern [A-Z]{3}"),
    ),
    (
        "amount",
        {"instructedAmount": {"currency": "EUR", "amount": "1,00"}},
        ("body.instructedAmount.amount", "must match the pattern -?[0-9]{1,14}(\\.[0-9]{1,3})?"),
    ),
    (
        "amount number",
        {"instructedAmount": {"currency": "EUR", "amount": 1}},
        ("body.instructedAmount.amount", "must be a string, not a number"),
    ),
    (
        "amount missing",
        {"instructedAmount": {"currency": "EUR"}},
        ("body.instructedAmount.amount", "is required"),
    ),
    ("creditor account", {"creditorAccount": None}, ("body.creditorAccount", "is required")),
    (
        "creditor iban",
        {"creditorAccount": {"iban": "de02"}},
        ("body.creditorAccount.iban", "must match the pattern [A-Z]{2,2}[0-9]{2,2}[a-zA-Z0-9]{1,30}"),
    ),
    ("not an object", {"__root__": True}, ("body", "must be an object, not an array")),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in PAYMENT_CASES], ids=[c[0] for c in PAYMENT_CASES]
)
def test_payment_body(changes: dict[str, Any], expected: tuple[str, str] | None) -> None:
    """POST /v1/payments/sepa-credit-transfers: the single-payment shape is reported, through the oneOf."""
    value: Any = [] if changes.pop("__root__", False) else payment_body(**changes)
    body = json.dumps(value).encode()
    assert problem_of(shipped("POST", PAYMENTS).check_body, "application/json", body) == expected


BODY_CASES: list[tuple[str, str | None, bytes, tuple[str, str] | None]] = [
    ("charset parameter", "application/json; charset=utf-8", json.dumps(consent_body()).encode(), None),
    ("no content type", None, json.dumps(consent_body()).encode(), None),
    ("not json", "application/json", b"{'access':", ("body", "is not valid JSON")),
    ("not utf-8", "application/json", b'{"a": "\xff"}', ("body", "is not valid JSON")),
    ("NaN", "application/json", b'{"frequencyPerDay": NaN}', ("body", "is not valid JSON")),
    ("empty", "application/json", b"", None),
    ("deep", "application/json", b"[" * 33 + b"]" * 33, ("body", "is nested deeper than 32 levels")),
    ("very deep", "application/json", b"[" * 100_000 + b"]" * 100_000, ("body", "is not valid JSON")),
    ("text", "text/plain", b"hello", ("header.Content-Type", "must be one of: application/json")),
]


@pytest.mark.parametrize(
    ("media", "body", "expected"), [c[1:] for c in BODY_CASES], ids=[c[0] for c in BODY_CASES]
)
def test_consent_body_framing(media: str | None, body: bytes, expected: tuple[str, str] | None) -> None:
    """Bodies that are not JSON, nest too deep or come as another media type never reach the schema."""
    assert problem_of(shipped("POST", CONSENTS).check_body, media, body) == expected


def test_empty_body_only_refused_where_the_spec_requires_one() -> None:
    """The payment body is required by the spec; the consent body is not (1.3.11 omits required: true)."""
    assert problem_of(shipped("POST", PAYMENTS).check_body, "application/json", b" ") == (
        "body",
        "is required",
    )


def test_nesting_within_limit_reaches_the_schema() -> None:
    """Thirty-two levels are parsed and handed to the schema, which then reports its own problem."""
    nested: Any = []
    for _ in range(30):
        nested = [nested]
    body = json.dumps(consent_body(access=nested)).encode()
    assert problem_of(shipped("POST", CONSENTS).check_body, "application/json", body) == (
        "body.access",
        "must be an object, not an array",
    )


def test_pain_001_xml_payment_is_not_checked_as_json() -> None:
    """An XML pain.001 body is a declared media type of the payment operation and passes untouched."""
    shipped("POST", "/v1/payments/pain.001-sepa-credit-transfers").check_body(
        "application/xml", b"<Document/>"
    )
