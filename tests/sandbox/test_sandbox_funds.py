"""PIIS: confirmation of funds against interimAvailable and the confirmation-of-funds consent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.sandbox.data import build_bank

from .factories import TODAY, Client, error_of, sca_path

IBAN = "BE21735300003103"  # PSU-1003's only account


def _available() -> Decimal:
    return build_bank(TODAY).by_iban[IBAN].available


def _request(amount: str, currency: str = "EUR", iban: str = IBAN) -> dict[str, Any]:
    return {"account": {"iban": iban}, "instructedAmount": {"currency": currency, "amount": amount}}


@pytest.mark.parametrize(
    ("amount", "currency", "available"),
    [
        ("1.00", "EUR", True),
        (str(_available()), "EUR", True),
        (str(_available() + Decimal("0.01")), "EUR", False),
        ("1000000.00", "EUR", False),
        ("1.00", "USD", False),
    ],
)
async def test_funds_confirmation(client: Client, amount: str, currency: str, available: bool) -> None:
    """fundsAvailable is true exactly when the EUR amount is at most interimAvailable."""
    response = await client.post("/v1/funds-confirmations", json=_request(amount, currency))
    assert response.status == 200
    assert await response.json() == {"fundsAvailable": available}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (_request("1.00", iban="BE68539007547034"), 400, "RESOURCE_UNKNOWN"),
        (
            {"account": {"bban": "123"}, "instructedAmount": {"currency": "EUR", "amount": "1"}},
            400,
            "RESOURCE_UNKNOWN",
        ),
        (_request("1.00", iban="BE00735300003103"), 400, "FORMAT_ERROR"),
        (_request("one"), 400, "FORMAT_ERROR"),
        ({"instructedAmount": {"currency": "EUR", "amount": "1"}}, 400, "FORMAT_ERROR"),
        ({"account": {"iban": IBAN}}, 400, "FORMAT_ERROR"),
    ],
)
async def test_bad_funds_requests(client: Client, body: dict[str, Any], status: int, code: str) -> None:
    """Unknown accounts and malformed amounts are refused with the spec's codes."""
    assert await error_of(await client.post("/v1/funds-confirmations", json=body)) == (status, code)


async def test_confirmation_of_funds_consent_lifecycle(client: Client) -> None:
    """A CoF consent is received, becomes valid through SCA, gates funds checks, and can be deleted."""
    response = await client.post("/v2/consents/confirmation-of-funds", json={"account": {"iban": IBAN}})
    assert response.status == 201
    created = await response.json()
    consent_id = created["consentId"]
    gated = await client.post(
        "/v1/funds-confirmations", json=_request("1.00"), headers={"Consent-ID": consent_id}
    )
    assert await error_of(gated) == (401, "CONSENT_INVALID")
    await client.get(sca_path(created), params={"psu": "PSU-1003"})
    read = await (await client.get(created["_links"]["self"]["href"])).json()
    assert read == {"account": {"iban": IBAN}, "consentStatus": "valid"}
    ok = await client.post(
        "/v1/funds-confirmations", json=_request("1.00"), headers={"Consent-ID": consent_id}
    )
    assert await ok.json() == {"fundsAvailable": True}
    assert (await client.delete(created["_links"]["self"]["href"])).status == 204
    status = await (await client.get(created["_links"]["status"]["href"])).json()
    assert status == {"consentStatus": "terminatedByTpp"}


async def test_cof_consent_sca_by_another_psu_is_rejected(client: Client) -> None:
    """The SCA of a CoF consent fails when a PSU who does not own the account logs in."""
    created = await (
        await client.post("/v2/consents/confirmation-of-funds", json={"account": {"iban": IBAN}})
    ).json()
    page = await (await client.get(sca_path(created), params={"psu": "PSU-1001"})).json()
    assert page["scaStatus"] == "failed"
    status = await (await client.get(created["_links"]["status"]["href"])).json()
    assert status == {"consentStatus": "rejected"}
