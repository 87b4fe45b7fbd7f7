"""Factories for OpenAPI tests: in-memory specs, compiled schemas, the shipped spec compiled once."""

from __future__ import annotations

import functools
from typing import Any

from gateway.openapi import SHIPPED_SPEC, CompiledOperation, Compiler, Options, Spec, Validator, load_compiled

REQUEST_ID = "99391c7e-ad88-49ec-a2ad-99ddcb1f7721"


def spec_of(components: dict[str, Any] | None = None, paths: dict[str, Any] | None = None) -> Spec:
    return Spec({"openapi": "3.0.1", "paths": paths or {}, "components": {"schemas": components or {}}})


def compile_schema(
    schema: dict[str, Any], components: dict[str, Any] | None = None, **options: Any
) -> Validator:
    return Compiler(spec_of(components), Options(**options)).compile(schema)


@functools.cache
def shipped(method: str, path: str) -> CompiledOperation:
    """The shipped Berlin Group 1.3.11 operation for a concrete request path."""
    found = load_compiled(SHIPPED_SPEC).table().match(method, path)
    assert found is not None, f"{method} {path} is no operation of the shipped spec"
    return found[0]


def consent_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access": {"accounts": [{"iban": "DE40100100103307118608"}], "balances": [], "transactions": []},
        "recurringIndicator": True,
        "validUntil": "2030-12-31",
        "frequencyPerDay": 4,
        "combinedServiceIndicator": False,
    }
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


def payment_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instructedAmount": {"currency": "EUR", "amount": "123.50"},
        "debtorAccount": {"iban": "DE40100100103307118608"},
        "creditorAccount": {"iban": "DE02100100109307118603"},
        "creditorName": "Merchant123",
        "remittanceInformationUnstructured": "Ref Number Merchant",
    }
    return {k: v for k, v in {**body, **changes}.items() if v is not None}
