"""rate-limit (several windows, headers, fail-open fallback) and request-id-replay (exactly once)."""

from __future__ import annotations

import asyncio

import pytest
from rulekit import T0, Rules, bound

from gateway.consents import ConsentFacts
from gateway.errors import Reject
from gateway.store.base import Store

PATH = "/v1/accounts"


async def test_several_windows_at_once(store: Store) -> None:
    """3 per second and 5 per minute: the second window bites after the first refills."""
    r = Rules(store, [bound("rate-limit", limits=[{"count": 3, "per": "1s"}, {"count": 5, "per": "1m"}])])
    assert [await r.status(PATH, now_ms=T0) for _ in range(4)] == [200, 200, 200, "ACCESS_EXCEEDED"]
    assert [await r.status(PATH, now_ms=T0 + 1000) for _ in range(3)] == [200, 200, "ACCESS_EXCEEDED"]


async def test_refusal_has_retry_after_and_headers_on_success(store: Store) -> None:
    """429 with Retry-After; allowed answers carry RateLimit-Policy and RateLimit."""
    r = Rules(store, [bound("rate-limit", limits=[{"count": 2, "per": "10s", "name": "burst"}])])
    ex = await r.run(PATH, now_ms=T0)
    assert ex.response_headers["RateLimit-Policy"] == '"burst";q=2;w=10'
    assert ex.response_headers["RateLimit"].startswith('"burst";r=1;')
    await r.run(PATH, now_ms=T0)
    with pytest.raises(Reject) as caught:
        await r.run(PATH, now_ms=T0)
    assert (caught.value.status, caught.value.headers["Retry-After"]) == (429, "5")


async def test_key_template_separates_tpps(store: Store) -> None:
    """{tpp} keys give each TPP its own quota."""
    r = Rules(store, [bound("rate-limit", limits=[{"count": 1, "per": "1m"}])])
    assert await r.status(PATH, now_ms=T0, tpp="PSDBE-NBB-1") == 200
    assert await r.status(PATH, now_ms=T0, tpp="PSDBE-NBB-2") == 200
    assert await r.status(PATH, now_ms=T0, tpp="PSDBE-NBB-1") == "ACCESS_EXCEEDED"


def test_bad_templates_and_durations_fail_at_load() -> None:
    """Unknown key fields and durations are configuration errors."""
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="unknown key field"):
        bound("rate-limit", limits=[{"count": 1, "per": "1s"}], key="{tpp}:{nope}")
    with pytest.raises(ConfigError, match="not a duration"):
        bound("rate-limit", limits=[{"count": 1, "per": "1 fortnight"}])


async def test_replayed_request_id_is_refused_and_fifty_copies_pass_once(store: Store) -> None:
    """Of 50 concurrent copies of one request exactly one passes; ids are per TPP."""
    r = Rules(store, [bound("request-id-replay")])
    headers = {"X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721"}
    results = await asyncio.gather(*(r.status(PATH, now_ms=T0, headers=headers) for _ in range(50)))
    assert results.count(200) == 1
    assert await r.status(PATH, now_ms=T0, headers=headers, tpp="PSDBE-NBB-2") == 200
    assert await r.status(PATH, now_ms=T0 + 86_400_001, headers=headers) == 200, "after the window"


async def test_consent_binding_refuses_another_tpps_consent(store: Store) -> None:
    """A Consent-ID created by another TPP is CONSENT_UNKNOWN."""
    r = Rules(store, [bound("consent-binding")])
    facts = ConsentFacts("c-1", "PSDBE-NBB-OTHER")
    assert await r.status(PATH, now_ms=T0, headers={"Consent-ID": "c-1"}, consent=facts) == "CONSENT_UNKNOWN"
    mine = ConsentFacts("c-1", "PSDBE-NBB-0123456789")
    assert await r.status(PATH, now_ms=T0, headers={"Consent-ID": "c-1"}, consent=mine) == 200
