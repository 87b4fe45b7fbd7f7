"""The demo path: a TPP gets account data from the built-in sandbox core through the gateway."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from support.gateway_fixtures import StartGateway
from support.pki import Pem


def rid(**extra: str) -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4()), **extra}


async def test_consent_sca_and_account_data_through_the_gateway(
    start: StartGateway, client_for: Any, tpp: Pem
) -> None:
    """Consent, embedded SCA, then accounts, balances and transactions, all over mTLS."""
    gateway = await start()  # upstream: builtin:sandbox, started in-process like the dev default
    client = client_for(tpp)
    base = gateway.url
    valid_until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    consent_body = {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "validUntil": valid_until,
        "frequencyPerDay": 4,
    }
    async with client.post(
        f"{base}/v1/consents", json=consent_body, headers=rid(**{"PSU-ID": "PSU-1001"})
    ) as r:
        assert r.status == 201, await r.text()
        consent_id = (await r.json())["consentId"]
    async with client.post(f"{base}/v1/consents/{consent_id}/authorisations", json={}, headers=rid()) as r:
        assert r.status == 201, await r.text()
        authorisation_id = (await r.json())["authorisationId"]
    password = {"psuData": {"password": "sandbox"}}
    url = f"{base}/v1/consents/{consent_id}/authorisations/{authorisation_id}"
    async with client.put(url, json=password, headers=rid()) as r:
        assert r.status == 200, await r.text()
    async with client.get(f"{base}/v1/consents/{consent_id}/status", headers=rid()) as r:
        assert (await r.json())["consentStatus"] == "valid"

    async with client.get(
        f"{base}/v1/accounts?withBalance=true", headers=rid(**{"Consent-ID": consent_id})
    ) as r:
        assert r.status == 200, await r.text()
        accounts = (await r.json())["accounts"]
    assert accounts and all(a["iban"].startswith("BE") for a in accounts)
    account = accounts[0]["resourceId"]
    date_from = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    query = f"bookingStatus=booked&dateFrom={date_from}"
    url = f"{base}/v1/accounts/{account}/transactions?{query}"
    async with client.get(url, headers=rid(**{"Consent-ID": consent_id})) as r:
        assert r.status == 200, await r.text()
        report = (await r.json())["transactions"]
    assert report["booked"], "the sandbox has transactions in the last 30 days"
    assert all(t["bookingDate"] >= date_from for t in report["booked"])


async def test_core_errors_pass_through_in_berlin_group_shape(
    start: StartGateway, client_for: Any, tpp: Pem
) -> None:
    """An unknown consent is the core's 401 CONSENT_UNKNOWN, passed to the TPP unchanged."""
    gateway = await start()
    headers = rid(**{"Consent-ID": "no-such-consent"})
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts", headers=headers) as r:
        assert r.status in (401, 403)
        body = await r.json()
    assert body["tppMessages"][0]["code"] == "CONSENT_UNKNOWN"
    assert r.headers["X-Request-ID"] == headers["X-Request-ID"]
