"""Request bodies, a fake clock and short flows shared by the sandbox tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

START = datetime(2025, 6, 2, 9, 30, tzinfo=UTC).timestamp()
TODAY = date(2025, 6, 2)
DAY = 86_400.0
CREDITOR_IBAN = "BE68539007547034"

Client = TestClient[web.Request, Any]


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def consent_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "validUntil": (TODAY + timedelta(days=90)).isoformat(),
        "frequencyPerDay": 4,
        "combinedServiceIndicator": False,
    }
    return {**body, **changes}


def payment_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instructedAmount": {"currency": "EUR", "amount": "123.45"},
        "debtorAccount": {"iban": "BE59735100001126"},
        "creditorAccount": {"iban": CREDITOR_IBAN},
        "creditorName": "Sandbox Creditor",
        "remittanceInformationUnstructured": "Invoice 42",
    }
    return {**body, **changes}


async def error_of(response: ClientResponse) -> tuple[int, str]:
    """Status and the first BG message code of an error response."""
    body = await response.json()
    message = body["tppMessages"][0]
    assert message["category"] == "ERROR"
    return response.status, message["code"]


def sca_path(created: dict[str, Any]) -> str:
    """The path of the ``scaRedirect`` link (the test client adds its own origin)."""
    href: str = created["_links"]["scaRedirect"]["href"]
    return "/sandbox/sca/" + href.rsplit("/sandbox/sca/", 1)[1]


async def create_consent(
    client: Client, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.post("/v1/consents", json=body or consent_body(), headers=headers or {})
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def valid_consent(client: Client, body: dict[str, Any] | None = None, psu: str = "") -> str:
    """A consent that went through a successful redirect SCA; returns its id."""
    created = await create_consent(client, body)
    query = {"result": "ok", **({"psu": psu} if psu else {})}
    response = await client.get(sca_path(created), params=query)
    assert response.status == 200, await response.text()
    consent_id: str = created["consentId"]
    return consent_id


async def first_account(client: Client, consent_id: str) -> str:
    response = await client.get("/v1/accounts", headers={"Consent-ID": consent_id})
    resource_id: str = (await response.json())["accounts"][0]["resourceId"]
    return resource_id
