"""access-frequency: 4 unattended reads a day per consent x resource; pages free; the PSU never counted."""

from __future__ import annotations

import asyncio

import pytest
from rulekit import MINUTE, T0, Rules, bound

from gateway.consents import ConsentFacts
from gateway.errors import Reject
from gateway.store.base import Store

TX = "/v1/accounts/acc-1/transactions?bookingStatus=booked&dateFrom=2025-05-01"
CONSENT = {"Consent-ID": "c-1"}


def rules(store: Store, **settings: object) -> Rules:
    return Rules(store, [bound("access-frequency", **settings)])


async def test_fifth_unattended_access_in_a_day_is_refused_with_retry_after(store: Store) -> None:
    """Four reads pass; the fifth is 429 ACCESS_EXCEEDED, Retry-After until the first leaves the window."""
    r = rules(store, pagination_window_s=0)
    for i in range(4):
        await r.run(TX, now_ms=T0 + i * 60 * MINUTE, headers=CONSENT)
    with pytest.raises(Reject) as caught:
        await r.run(TX, now_ms=T0 + 5 * 60 * MINUTE, headers=CONSENT)
    assert (caught.value.code.value, caught.value.status) == ("ACCESS_EXCEEDED", 429)
    assert caught.value.headers["Retry-After"] == str(19 * 3600)
    assert await r.status(TX, now_ms=T0 + 24 * 60 * MINUTE, headers=CONSENT) == 200, "the window rolls"


async def test_psu_present_requests_never_count(store: Store) -> None:
    """With PSU-IP-Address (or psu_involved=true) the PSU asked now: no counting at all."""
    r = rules(store, pagination_window_s=0)
    for i in range(10):
        await r.run(TX, now_ms=T0 + i, headers={**CONSENT, "PSU-IP-Address": "192.0.2.1"})
        await r.run(TX + "&psu_involved=true", now_ms=T0 + i, headers=CONSENT)
    for i in range(4):
        await r.run(TX, now_ms=T0 + 100 + i, headers=CONSENT)
    assert await r.status(TX, now_ms=T0 + 200, headers=CONSENT) == "ACCESS_EXCEEDED"


async def test_next_page_within_15_minutes_is_free_and_later_counts(store: Store) -> None:
    """Seed 000: another page within 15 minutes is not counted; the same query later in the day is."""
    r = rules(store)
    await r.run(TX + "&page=0", now_ms=T0, headers=CONSENT)
    for page in range(1, 8):
        await r.run(TX + f"&page={page}", now_ms=T0 + 14 * MINUTE, headers=CONSENT)
    await r.run(TX.replace("booked", "pending"), now_ms=T0 + MINUTE, headers=CONSENT)  # same report
    for i in range(3):
        await r.run(TX + "&page=0", now_ms=T0 + (16 + 16 * i) * MINUTE, headers=CONSENT)
    assert await r.status(TX + "&page=1", now_ms=T0 + 70 * MINUTE, headers=CONSENT) == "ACCESS_EXCEEDED"


async def test_counted_per_resource_and_per_consent(store: Store) -> None:
    """Balances and transactions, two accounts and two consents have their own counters."""
    r = rules(store, pagination_window_s=0)
    for _ in range(4):
        for path in ("/v1/accounts/acc-1/balances", "/v1/accounts/acc-2/balances", TX):
            await r.run(path, now_ms=T0, headers=CONSENT)
        await r.run(TX, now_ms=T0, headers={"Consent-ID": "c-2"})
    assert await r.status("/v1/accounts/acc-1/balances", now_ms=T0, headers=CONSENT) == "ACCESS_EXCEEDED"


async def test_consent_frequency_below_the_bank_maximum_applies(store: Store) -> None:
    """A consent asking for frequencyPerDay 2 gets 2, not the bank's 4."""
    r = rules(store, pagination_window_s=0)
    facts = ConsentFacts("c-1", "PSDBE-NBB-0123456789", frequency_per_day=2)
    for _ in range(2):
        await r.run(TX, now_ms=T0, headers=CONSENT, consent=facts)
    assert await r.status(TX, now_ms=T0, headers=CONSENT, consent=facts) == "ACCESS_EXCEEDED"


async def test_calendar_day_window_resets_at_local_midnight(store: Store) -> None:
    """window: calendar-day counts per day in the configured zone; Retry-After points at midnight."""
    r = rules(store, pagination_window_s=0, window="calendar-day", timezone="Europe/Brussels")
    evening = T0 + 12 * 60 * MINUTE  # 21:00 UTC = 23:00 in Brussels (CEST)
    for _ in range(4):
        await r.run(TX, now_ms=evening, headers=CONSENT)
    with pytest.raises(Reject) as caught:
        await r.run(TX, now_ms=evening, headers=CONSENT)
    assert caught.value.headers["Retry-After"] == "3600"
    assert await r.status(TX, now_ms=evening + 61 * MINUTE, headers=CONSENT) == 200


async def test_shadow_mode_never_rejects_but_records(store: Store) -> None:
    """A shadow rule evaluates and reports its refusal without stopping the request."""
    r = Rules(store, [bound("access-frequency", mode="shadow", pagination_window_s=0)])
    for _ in range(4):
        await r.run(TX, now_ms=T0, headers=CONSENT)
    ex = await r.run(TX, now_ms=T0, headers=CONSENT)
    assert [s.code.value for s in ex.shadow_rejections] == ["ACCESS_EXCEEDED"]


async def test_fifty_concurrent_requests_get_exactly_the_limit(store: Store) -> None:
    """Under 50 concurrent reads on one consent exactly 4 pass."""
    r = rules(store, pagination_window_s=0)
    results = await asyncio.gather(*(r.status(TX, now_ms=T0, headers=CONSENT) for _ in range(50)))
    assert results.count(200) == 4 and results.count("ACCESS_EXCEEDED") == 46
