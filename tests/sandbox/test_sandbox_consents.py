"""AIS consents: validation, SCA outcomes, expiry against the injected clock, Consent-ID checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .factories import (
    DAY,
    TODAY,
    Client,
    FakeClock,
    consent_body,
    create_consent,
    error_of,
    first_account,
    sca_path,
    valid_consent,
)

_MISSING = object()


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in consent_body().items() if k != name}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (_without("access"), 400, "FORMAT_ERROR"),
        (consent_body(access=[]), 400, "FORMAT_ERROR"),
        (consent_body(access={}), 400, "FORMAT_ERROR"),
        (consent_body(access={"allPsd2": "everything"}), 400, "FORMAT_ERROR"),
        (consent_body(access={"accounts": "BE68539007547034"}), 400, "FORMAT_ERROR"),
        (consent_body(access={"accounts": [{"bban": "123"}]}), 400, "FORMAT_ERROR"),
        (consent_body(access={"accounts": [{"iban": "BE68539007547034"}]}), 400, "RESOURCE_UNKNOWN"),
        (_without("recurringIndicator"), 400, "FORMAT_ERROR"),
        (consent_body(recurringIndicator="yes"), 400, "FORMAT_ERROR"),
        (_without("validUntil"), 400, "FORMAT_ERROR"),
        (consent_body(validUntil="2025-13-01"), 400, "FORMAT_ERROR"),
        (consent_body(validUntil="01/02/2026"), 400, "FORMAT_ERROR"),
        (consent_body(validUntil=20260101), 400, "FORMAT_ERROR"),
        (consent_body(validUntil=(TODAY - timedelta(days=1)).isoformat()), 400, "PERIOD_INVALID"),
        (_without("frequencyPerDay"), 400, "FORMAT_ERROR"),
        (consent_body(frequencyPerDay=0), 400, "FORMAT_ERROR"),
        (consent_body(frequencyPerDay=True), 400, "FORMAT_ERROR"),
        (consent_body(frequencyPerDay="4"), 400, "FORMAT_ERROR"),
        (consent_body(combinedServiceIndicator="false"), 400, "FORMAT_ERROR"),
    ],
)
async def test_invalid_consent_requests_are_rejected(
    client: Client, body: dict[str, Any], status: int, code: str
) -> None:
    """Each malformed consents body is refused with the code naming its fault."""
    assert await error_of(await client.post("/v1/consents", json=body)) == (status, code)


async def test_unknown_psu_id_is_refused(client: Client) -> None:
    """A PSU-ID that is not a sandbox PSU is 401 PSU_CREDENTIALS_INVALID."""
    response = await client.post("/v1/consents", json=consent_body(), headers={"PSU-ID": "PSU-9"})
    assert await error_of(response) == (401, "PSU_CREDENTIALS_INVALID")


async def test_consent_expires_with_the_injected_clock(client: Client, clock: FakeClock) -> None:
    """A consent valid until tomorrow serves accounts today and is CONSENT_EXPIRED the day after."""
    body = consent_body(validUntil=(TODAY + timedelta(days=1)).isoformat())
    consent_id = await valid_consent(client, body)
    assert (await client.get("/v1/accounts", headers={"Consent-ID": consent_id})).status == 200
    clock.advance(2 * DAY)
    assert await error_of(await client.get("/v1/accounts", headers={"Consent-ID": consent_id})) == (
        401,
        "CONSENT_EXPIRED",
    )
    status = await (await client.get(f"/v1/consents/{consent_id}/status")).json()
    assert status == {"consentStatus": "expired"}


async def test_one_off_consent_lasts_twenty_minutes_after_sca(client: Client, clock: FakeClock) -> None:
    """recurringIndicator false with frequencyPerDay 1 expires 20 minutes after the SCA (bank portal rule)."""
    consent_id = await valid_consent(client, consent_body(recurringIndicator=False, frequencyPerDay=1))
    clock.advance(19 * 60)
    assert (await client.get("/v1/accounts", headers={"Consent-ID": consent_id})).status == 200
    clock.advance(2 * 60)
    response = await client.get("/v1/accounts", headers={"Consent-ID": consent_id})
    assert await error_of(response) == (401, "CONSENT_EXPIRED")


async def test_sca_time_is_reported_in_body_and_header(client: Client, clock: FakeClock) -> None:
    """The consent shows the SCA day as lastActionDate and the SCA instant in X-Sandbox-SCA-Time."""
    created = await create_consent(client)
    before = await client.get(f"/v1/consents/{created['consentId']}")
    assert "X-Sandbox-SCA-Time" not in before.headers
    clock.advance(DAY + 3600)
    await client.get(sca_path(created))
    read = await client.get(f"/v1/consents/{created['consentId']}")
    body = await read.json()
    assert body["lastActionDate"] == (TODAY + timedelta(days=1)).isoformat()
    assert body["consentStatus"] == "valid" and body["access"] == {"allPsd2": "allAccounts"}
    assert read.headers["X-Sandbox-SCA-Time"] == f"{TODAY + timedelta(days=1)}T10:30:00Z"
    status = await client.get(f"/v1/consents/{created['consentId']}/status")
    assert status.headers["X-Sandbox-SCA-Time"] == read.headers["X-Sandbox-SCA-Time"]


async def test_failed_sca_rejects_the_consent(client: Client) -> None:
    """result=fail on the SCA page marks the authorisation failed and the consent rejected."""
    created = await create_consent(client)
    page = await (await client.get(sca_path(created), params={"result": "fail"})).json()
    assert page["scaStatus"] == "failed"
    auth = await (await client.get(created["_links"]["scaStatus"]["href"])).json()
    assert auth == {"scaStatus": "failed"}
    headers = {"Consent-ID": created["consentId"]}
    assert await error_of(await client.get("/v1/accounts", headers=headers)) == (401, "CONSENT_INVALID")


async def test_sca_page_cannot_be_used_twice(client: Client) -> None:
    """A finalised authorisation answers 409 STATUS_INVALID when its page is opened again."""
    created = await create_consent(client)
    await client.get(sca_path(created))
    assert await error_of(await client.get(sca_path(created))) == (409, "STATUS_INVALID")


async def test_sca_page_redirects_back_to_the_tpp(client: Client) -> None:
    """With TPP-Redirect-URI / TPP-Nok-Redirect-URI the SCA page answers 302 to the matching one."""
    headers = {
        "TPP-Redirect-URI": "https://tpp.example/ok",
        "TPP-Nok-Redirect-URI": "https://tpp.example/nok",
    }
    ok, nok = await create_consent(client, headers=headers), await create_consent(client, headers=headers)
    ok_page = await client.get(sca_path(ok), allow_redirects=False)
    nok_page = await client.get(sca_path(nok), params={"result": "fail"}, allow_redirects=False)
    assert (ok_page.status, ok_page.headers["Location"]) == (302, "https://tpp.example/ok")
    assert (nok_page.status, nok_page.headers["Location"]) == (302, "https://tpp.example/nok")


async def test_embedded_psu_data_finalises_the_authorisation(client: Client) -> None:
    """PUT .../authorisations/{id} with psuData.password is the embedded equivalent of the SCA page."""
    created = await create_consent(client, headers={"TPP-Explicit-Authorisation-Preferred": "true"})
    base = f"/v1/consents/{created['consentId']}/authorisations"
    auth_id = (await (await client.post(base)).json())["authorisationId"]
    assert (await (await client.get(base)).json()) == {"authorisationIds": [auth_id]}
    bad = await client.put(f"{base}/{auth_id}", json={"psuData": {}})
    assert await error_of(bad) == (400, "FORMAT_ERROR")
    done = await client.put(f"{base}/{auth_id}", json={"psuData": {"password": "sandbox"}})
    assert (await done.json())["scaStatus"] == "finalised"
    status = await (await client.get(f"/v1/consents/{created['consentId']}/status")).json()
    assert status == {"consentStatus": "valid"}
    assert await error_of(await client.post(base)) == (409, "STATUS_INVALID")
    assert await error_of(await client.get(f"{base}/not-an-id")) == (403, "RESOURCE_UNKNOWN")


async def test_psu_chosen_at_sca_decides_the_accounts(client: Client) -> None:
    """A global consent shows the accounts of the PSU who logged in on the SCA page."""
    consent_id = await valid_consent(client, psu="PSU-1003")
    listed = await (await client.get("/v1/accounts", headers={"Consent-ID": consent_id})).json()
    assert [a["ownerName"] for a in listed["accounts"]] == ["Chloe Dubois"]


async def test_dedicated_consent_limits_services_per_account(client: Client) -> None:
    """A consent with balances on one IBAN lists it, serves its balances and refuses its transactions."""
    psus = await (await client.get("/sandbox/psus")).json()
    iban = psus["psus"][1]["accounts"][0]["iban"]
    consent_id = await valid_consent(client, consent_body(access={"balances": [{"iban": iban}]}))
    headers = {"Consent-ID": consent_id}
    listed = await (await client.get("/v1/accounts", headers=headers)).json()
    assert [a["iban"] for a in listed["accounts"]] == [iban]
    assert set(listed["accounts"][0]["_links"]) == {"balances"}
    account = await first_account(client, consent_id)
    assert (await client.get(f"/v1/accounts/{account}/balances", headers=headers)).status == 200
    refused = await client.get(f"/v1/accounts/{account}/transactions?bookingStatus=booked", headers=headers)
    assert await error_of(refused) == (401, "CONSENT_INVALID")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, "FORMAT_ERROR"),
        ({"Consent-ID": "no-such-consent"}, 403, "CONSENT_UNKNOWN"),
    ],
)
async def test_consent_id_header_errors(
    client: Client, headers: dict[str, str], status: int, code: str
) -> None:
    """A missing or unknown Consent-ID on /v1/accounts gets the spec's status and code."""
    assert await error_of(await client.get("/v1/accounts", headers=headers)) == (status, code)


async def test_unauthorised_consent_is_not_yet_usable(client: Client) -> None:
    """A consent still in status received is 401 CONSENT_INVALID on account reads."""
    created = await create_consent(client)
    response = await client.get("/v1/accounts", headers={"Consent-ID": created["consentId"]})
    assert await error_of(response) == (401, "CONSENT_INVALID")
