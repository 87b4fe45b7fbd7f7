"""PIS: initiation, status, SCA outcomes, cancellation paths and body validation."""

from __future__ import annotations

from typing import Any

import pytest

from .factories import CREDITOR_IBAN, Client, error_of, payment_body, sca_path

SEPA = "/v1/payments/sepa-credit-transfers"
INSTANT = "/v1/payments/instant-sepa-credit-transfers"


async def _initiate(client: Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post(path, json=body or payment_body())
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    assert response.headers["Location"] == created["_links"]["self"]["href"]
    return created


async def _status(client: Client, created: dict[str, Any]) -> str:
    status: str = (await (await client.get(created["_links"]["status"]["href"])).json())["transactionStatus"]
    return status


@pytest.mark.parametrize(("path", "after_sca"), [(SEPA, "ACCP"), (INSTANT, "ACSC")])
async def test_payment_initiation_and_sca(client: Client, path: str, after_sca: str) -> None:
    """A payment is RCVD at creation and ACCP (SEPA) or ACSC (instant) after a successful SCA."""
    created = await _initiate(client, path)
    assert created["transactionStatus"] == "RCVD"
    assert await _status(client, created) == "RCVD"
    await client.get(sca_path(created), params={"psu": "PSU-1001"})
    assert await _status(client, created) == after_sca
    read = await (await client.get(created["_links"]["self"]["href"])).json()
    assert read["transactionStatus"] == after_sca and read["creditorName"] == "Sandbox Creditor"


async def test_failed_sca_rejects_the_payment(client: Client) -> None:
    """result=fail on the SCA page moves the payment to RJCT."""
    created = await _initiate(client, SEPA)
    await client.get(sca_path(created), params={"result": "fail"})
    assert await _status(client, created) == "RJCT"


async def test_cancel_before_sca_is_immediate(client: Client) -> None:
    """DELETE on a RCVD payment answers 204 and the payment becomes CANC."""
    created = await _initiate(client, SEPA)
    assert (await client.delete(created["_links"]["self"]["href"])).status == 204
    assert await _status(client, created) == "CANC"


async def test_cancel_after_sca_needs_a_cancellation_authorisation(client: Client) -> None:
    """DELETE on an ACCP payment answers 202; the cancellation SCA then moves it to CANC."""
    created = await _initiate(client, SEPA)
    await client.get(sca_path(created))
    cancelled = await client.delete(created["_links"]["self"]["href"])
    assert cancelled.status == 202
    start = (await cancelled.json())["_links"]["startAuthorisation"]["href"]
    auth = await (await client.post(start)).json()
    assert (await (await client.get(start)).json()) == {"authorisationIds": [auth["authorisationId"]]}
    await client.get(sca_path(auth))
    assert await _status(client, created) == "CANC"
    assert (await (await client.get(auth["_links"]["scaStatus"]["href"])).json()) == {
        "scaStatus": "finalised"
    }


async def test_settled_instant_payment_cannot_be_cancelled(client: Client) -> None:
    """DELETE on an ACSC instant payment is 405 CANCELLATION_INVALID."""
    created = await _initiate(client, INSTANT)
    await client.get(sca_path(created))
    response = await client.delete(created["_links"]["self"]["href"])
    assert await error_of(response) == (405, "CANCELLATION_INVALID")


async def test_explicit_authorisation_with_embedded_password(client: Client) -> None:
    """With explicit authorisation preferred, POST authorisations then PUT psuData authorises the payment."""
    response = await client.post(
        SEPA, json=payment_body(), headers={"TPP-Explicit-Authorisation-Preferred": "true"}
    )
    created = await response.json()
    auth = await (await client.post(created["_links"]["startAuthorisation"]["href"])).json()
    put = await client.put(auth["_links"]["scaStatus"]["href"], json={"psuData": {"password": "1234"}})
    assert (await put.json())["scaStatus"] == "finalised"
    assert await _status(client, created) == "ACCP"


async def test_periodic_and_bulk_payments(client: Client) -> None:
    """Periodic (startDate, frequency) and bulk (debtorAccount, payments[]) initiations are accepted."""
    periodic = payment_body(startDate="2025-07-01", frequency="Monthly", endDate="2026-07-01")
    await _initiate(client, "/v1/periodic-payments/sepa-credit-transfers", periodic)
    single = {k: v for k, v in payment_body().items() if k != "debtorAccount"}
    bulk = {"debtorAccount": {"iban": "BE59735100001126"}, "payments": [single, single]}
    created = await _initiate(client, "/v1/bulk-payments/instant-sepa-credit-transfers", bulk)
    assert len((await (await client.get(created["_links"]["self"]["href"])).json())["payments"]) == 2


def _drop(name: str) -> dict[str, Any]:
    return {k: v for k, v in payment_body().items() if k != name}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (SEPA, _drop("instructedAmount"), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(instructedAmount={"currency": "EUR", "amount": 12.5}), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(instructedAmount={"currency": "euro", "amount": "12.50"}), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(instructedAmount={"currency": "EUR", "amount": "-1"}), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(instructedAmount={"currency": "EUR", "amount": "1.2345"}), 400, "FORMAT_ERROR"),
        (SEPA, _drop("creditorAccount"), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(creditorAccount={"iban": CREDITOR_IBAN[:-1] + "5"}), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(creditorAccount={}), 400, "FORMAT_ERROR"),
        (SEPA, _drop("creditorName"), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(creditorName="x" * 71), 400, "FORMAT_ERROR"),
        (SEPA, payment_body(requestedExecutionDate="soon"), 400, "FORMAT_ERROR"),
        ("/v1/periodic-payments/sepa-credit-transfers", payment_body(), 400, "FORMAT_ERROR"),
        (
            "/v1/periodic-payments/sepa-credit-transfers",
            payment_body(startDate="2025-07-01"),
            400,
            "FORMAT_ERROR",
        ),
        ("/v1/bulk-payments/sepa-credit-transfers", {"payments": [payment_body()]}, 400, "FORMAT_ERROR"),
        ("/v1/bulk-payments/sepa-credit-transfers", payment_body(payments=[]), 400, "FORMAT_ERROR"),
        ("/v1/bulk-payments/sepa-credit-transfers", payment_body(payments=[{}]), 400, "FORMAT_ERROR"),
        ("/v1/payments/pain.001-sepa-credit-transfers", payment_body(), 404, "PRODUCT_UNKNOWN"),
        ("/v1/payments/bitcoin", payment_body(), 404, "PRODUCT_UNKNOWN"),
    ],
)
async def test_invalid_payment_requests(
    client: Client, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    """Each malformed initiation is refused with the code naming its fault."""
    assert await error_of(await client.post(path, json=body)) == (status, code)


async def test_payment_is_only_found_under_its_own_product(client: Client) -> None:
    """A payment id read under another product path is 403 RESOURCE_UNKNOWN."""
    created = await _initiate(client, SEPA)
    response = await client.get(f"{INSTANT}/{created['paymentId']}/status")
    assert await error_of(response) == (403, "RESOURCE_UNKNOWN")
