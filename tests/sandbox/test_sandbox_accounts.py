"""AIS reads: account list and details, balances, transaction filters, pagination links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .factories import TODAY, Client, error_of, first_account, valid_consent


@pytest.fixture
async def ais(client: Client) -> tuple[dict[str, str], str]:
    """Headers of a valid all-PSD2 consent for PSU-1001 and the first account's resourceId."""
    consent_id = await valid_consent(client)
    return {"Consent-ID": consent_id}, await first_account(client, consent_id)


async def _transactions(client: Client, ais: tuple[dict[str, str], str], **query: str) -> dict[str, Any]:
    headers, account = ais
    response = await client.get(f"/v1/accounts/{account}/transactions", params=query, headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_account_list_with_and_without_balances(
    client: Client, ais: tuple[dict[str, str], str]
) -> None:
    """withBalance=true adds balances to each listed account; without it there are none."""
    headers, _ = ais
    plain = await (await client.get("/v1/accounts", headers=headers)).json()
    rich = await (await client.get("/v1/accounts?withBalance=true", headers=headers)).json()
    assert all("balances" not in a for a in plain["accounts"])
    assert all(len(a["balances"]) == 3 for a in rich["accounts"])
    assert all(a["iban"].startswith("BE") and a["currency"] == "EUR" for a in plain["accounts"])


async def test_account_details_and_unknown_account(client: Client, ais: tuple[dict[str, str], str]) -> None:
    """An account reads back by resourceId; an unknown id is 404 RESOURCE_UNKNOWN."""
    headers, account = ais
    body = await (await client.get(f"/v1/accounts/{account}", headers=headers)).json()
    assert body["account"]["resourceId"] == account
    assert body["account"]["_links"]["transactions"]["href"] == f"/v1/accounts/{account}/transactions"
    unknown = await client.get("/v1/accounts/nope/balances", headers=headers)
    assert await error_of(unknown) == (404, "RESOURCE_UNKNOWN")


async def test_pagination_walks_every_booked_transaction_once(
    client: Client, ais: tuple[dict[str, str], str]
) -> None:
    """Following next links from page 0 visits each transaction in the window once, newest first."""
    date_from = (TODAY - timedelta(days=120)).isoformat()
    body = await _transactions(client, ais, bookingStatus="booked", dateFrom=date_from, pageSize="25")
    seen: list[dict[str, Any]] = []
    pages = 0
    while True:
        pages += 1
        seen += body["transactions"]["booked"]
        links = body["transactions"]["_links"]
        if "next" not in links:
            break
        headers, _ = ais
        body = await (await client.get(links["next"]["href"], headers=headers)).json()
    assert "previous" in links and f"page={pages - 1}" in links["last"]["href"]
    assert f"dateFrom={date_from}" in links["last"]["href"] and "pageSize=25" in links["last"]["href"]
    dates = [t["bookingDate"] for t in seen]
    assert dates == sorted(dates, reverse=True) and dates[-1] >= date_from
    assert len({t["transactionId"] for t in seen}) == len(seen) > 50


async def test_date_window_filters_booked_transactions(
    client: Client, ais: tuple[dict[str, str], str]
) -> None:
    """Only entries with dateFrom <= bookingDate <= dateTo are returned."""
    date_from, date_to = (TODAY - timedelta(days=60)).isoformat(), (TODAY - timedelta(days=30)).isoformat()
    body = await _transactions(
        client, ais, bookingStatus="booked", dateFrom=date_from, dateTo=date_to, pageSize="500"
    )
    dates = [t["bookingDate"] for t in body["transactions"]["booked"]]
    assert dates and all(date_from <= d <= date_to for d in dates)
    assert set(body["transactions"]["_links"]) == {"account", "first", "last"}


async def test_full_history_has_about_four_hundred_entries(
    client: Client, ais: tuple[dict[str, str], str]
) -> None:
    """The whole history (deltaList, no dateFrom) holds 400 booked entries spread over about 400 days."""
    body = await _transactions(client, ais, bookingStatus="booked", deltaList="true", pageSize="500")
    dates = [t["bookingDate"] for t in body["transactions"]["booked"]]
    assert len(dates) == 400 and dates[-1] >= (TODAY - timedelta(days=400)).isoformat()


@pytest.mark.parametrize(
    ("status", "keys"),
    [
        ("booked", {"booked", "_links"}),
        ("pending", {"pending", "_links"}),
        ("both", {"booked", "pending", "_links"}),
        ("information", {"information", "_links"}),
    ],
)
async def test_booking_status_selects_report_parts(
    client: Client, ais: tuple[dict[str, str], str], status: str, keys: set[str]
) -> None:
    """bookingStatus decides which lists the account report holds (spec accountReport)."""
    body = await _transactions(
        client, ais, bookingStatus=status, dateFrom=(TODAY - timedelta(days=5)).isoformat()
    )
    assert set(body["transactions"]) == keys
    assert body["account"]["iban"].startswith("BE")
    if "pending" in keys:
        assert body["transactions"]["pending"] and "bookingDate" not in body["transactions"]["pending"][0]


async def test_transactions_with_balance(client: Client, ais: tuple[dict[str, str], str]) -> None:
    """withBalance=true on transactions adds the account's balances next to the report."""
    body = await _transactions(client, ais, bookingStatus="booked", deltaList="true", withBalance="true")
    assert len(body["balances"]) == 3


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"dateFrom": "2025-01-01"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "settled", "dateFrom": "2025-01-01"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "dateFrom": "yesterday"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "dateFrom": "2025-01-01", "dateTo": "2025-02-30"}, 400, "FORMAT_ERROR"),
        (
            {"bookingStatus": "booked", "dateFrom": "2025-03-01", "dateTo": "2025-02-01"},
            400,
            "PERIOD_INVALID",
        ),
        ({"bookingStatus": "booked", "dateFrom": "2025-01-01", "pageSize": "0"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "dateFrom": "2025-01-01", "pageSize": "²"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "dateFrom": "2025-01-01", "page": "-1"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "dateFrom": "2025-01-01", "page": "9999"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "deltaList": "maybe"}, 400, "FORMAT_ERROR"),
        ({"bookingStatus": "booked", "dateFrom": "2025-01-01", "withBalance": "1"}, 400, "FORMAT_ERROR"),
    ],
)
async def test_bad_transaction_queries(
    client: Client, ais: tuple[dict[str, str], str], query: dict[str, str], status: int, code: str
) -> None:
    """Malformed transaction query parameters are refused with the code naming the fault."""
    headers, account = ais
    response = await client.get(f"/v1/accounts/{account}/transactions", params=query, headers=headers)
    assert await error_of(response) == (status, code)


async def test_single_transaction_details(client: Client, ais: tuple[dict[str, str], str]) -> None:
    """A listed transactionId reads back as transactionDetails; an unknown one is 403 RESOURCE_UNKNOWN."""
    headers, account = ais
    listed = await _transactions(client, ais, bookingStatus="booked", deltaList="true", pageSize="1")
    wanted = listed["transactions"]["booked"][0]
    found = await client.get(
        f"/v1/accounts/{account}/transactions/{wanted['transactionId']}", headers=headers
    )
    assert (await found.json()) == {"transactionDetails": wanted}
    missing = await client.get(f"/v1/accounts/{account}/transactions/nope", headers=headers)
    assert await error_of(missing) == (403, "RESOURCE_UNKNOWN")


async def test_card_accounts_for_a_global_consent(client: Client, ais: tuple[dict[str, str], str]) -> None:
    """GET /v1/card-accounts lists the PSU's masked card under an all-PSD2 consent."""
    headers, _ = ais
    body = await (await client.get("/v1/card-accounts", headers=headers)).json()
    assert [c["maskedPan"][-4:] for c in body["cardAccounts"]] == ["4021"]
