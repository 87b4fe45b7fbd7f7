"""consent-window: 180-day validity, one-off consents, 90-day history only shortly after SCA."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rulekit import MINUTE, T0, Rules, bound

from gateway.consents import ConsentFacts
from gateway.errors import Reject
from gateway.store.base import Store

OWNER = "PSDBE-NBB-0123456789"
CONSENT = {"Consent-ID": "c-1"}
OLD = "/v1/accounts/acc-1/transactions?bookingStatus=booked&dateFrom=2025-01-01"  # 152 days before T0
RECENT = "/v1/accounts/acc-1/transactions?bookingStatus=booked&dateFrom=2025-05-01"


def recurring(sca_ms: int | None = T0) -> ConsentFacts:
    return ConsentFacts(
        "c-1",
        OWNER,
        recurring=True,
        frequency_per_day=4,
        valid_until="2025-12-31",
        status="valid",
        sca_time_ms=sca_ms,
    )


def one_off() -> ConsentFacts:
    return ConsentFacts(
        "c-1",
        OWNER,
        recurring=False,
        frequency_per_day=1,
        valid_until="2025-12-31",
        status="valid",
        sca_time_ms=T0,
    )


@pytest.fixture
def rules(store: Store) -> Rules:
    return Rules(store, [bound("consent-window")])


async def test_old_transactions_pass_at_minute_5_and_fail_at_minute_25(rules: Rules) -> None:
    """A 90+ day dateFrom is served within 20 minutes after SCA (first request), not after."""
    assert await rules.status(OLD, now_ms=T0 + 5 * MINUTE, headers=CONSENT, consent=recurring()) == 200
    later = await rules.status(OLD, now_ms=T0 + 25 * MINUTE, headers=CONSENT, consent=recurring())
    assert later == "PERIOD_INVALID"


async def test_recurring_consent_gets_old_transactions_once_per_account_after_sca(rules: Rules) -> None:
    """Seed 000: only the first request per account after the SCA reaches back beyond 90 days."""
    assert await rules.status(OLD, now_ms=T0 + MINUTE, headers=CONSENT, consent=recurring()) == 200
    assert (
        await rules.status(OLD, now_ms=T0 + 2 * MINUTE, headers=CONSENT, consent=recurring())
        == "PERIOD_INVALID"
    )
    other = OLD.replace("acc-1", "acc-2")
    assert await rules.status(other, now_ms=T0 + 3 * MINUTE, headers=CONSENT, consent=recurring()) == 200
    fresh_sca = recurring(T0 + 60 * MINUTE)
    assert await rules.status(OLD, now_ms=T0 + 61 * MINUTE, headers=CONSENT, consent=fresh_sca) == 200


async def test_recent_transactions_are_not_restricted(rules: Rules) -> None:
    """Within 90 days nothing about SCA time applies."""
    assert await rules.status(RECENT, now_ms=T0 + 600 * MINUTE, headers=CONSENT, consent=recurring()) == 200


async def test_token_auth_time_counts_as_sca(rules: Rules) -> None:
    """An access token's auth_time gives a fresher SCA time than the ledger's."""
    claims = {"auth_time": (T0 + 100 * MINUTE) / 1000}
    got = await rules.status(
        OLD, now_ms=T0 + 105 * MINUTE, headers=CONSENT, consent=recurring(), claims=claims
    )
    assert got == 200


async def test_one_off_consent_expires_20_minutes_after_sca(rules: Rules) -> None:
    """The 21st minute of a one-off consent is CONSENT_EXPIRED."""
    assert await rules.status(RECENT, now_ms=T0 + 19 * MINUTE, headers=CONSENT, consent=one_off()) == 200
    assert await rules.status(OLD, now_ms=T0 + 19 * MINUTE, headers=CONSENT, consent=one_off()) == 200
    late = await rules.status(RECENT, now_ms=T0 + 21 * MINUTE, headers=CONSENT, consent=one_off())
    assert late == "CONSENT_EXPIRED"


async def test_expired_consent(rules: Rules) -> None:
    """After validUntil the consent is CONSENT_EXPIRED."""
    facts = ConsentFacts("c-1", OWNER, valid_until="2025-06-01")
    assert await rules.status(RECENT, now_ms=T0, headers=CONSENT, consent=facts) == "CONSENT_EXPIRED"


@pytest.mark.parametrize(("valid_until", "expected"), [("2025-11-29", 200), ("2025-11-30", "FORMAT_ERROR")])
async def test_validity_over_180_days_is_rejected(rules: Rules, valid_until: str, expected: object) -> None:
    """validUntil at most 180 days ahead at creation."""
    body = json.dumps({"access": {}, "validUntil": valid_until}).encode()
    assert await rules.status("/v1/consents", now_ms=T0, method="POST", body=body) == expected


async def test_validity_over_180_days_can_be_capped(store: Store) -> None:
    """on-longer-validity: cap rewrites validUntil to the latest allowed date."""
    rules = Rules(store, [bound("consent-window", on_longer_validity="cap")])
    body = json.dumps({"access": {}, "validUntil": "2099-01-01"}).encode()
    ex = await rules.run("/v1/consents", now_ms=T0, method="POST", body=body)
    assert json.loads(ex.body)["validUntil"] == "2025-11-29"


async def test_bad_date_from_is_a_format_error(rules: Rules) -> None:
    """A dateFrom that is not a date gets FORMAT_ERROR, not a crash."""
    bad = "/v1/accounts/acc-1/transactions?dateFrom=yesterday"
    with pytest.raises(Reject) as caught:
        await rules.run(bad, now_ms=T0, headers=CONSENT, consent=recurring())
    assert caught.value.code.value == "FORMAT_ERROR"


def sca_token(key: ec.EllipticCurvePrivateKey, iat_ms: int, lifetime_s: int = 3600) -> str:
    return jwt.encode(
        {"iat": iat_ms // 1000, "exp": iat_ms // 1000 + lifetime_s, "sub": "PSU-1"}, key, "ES256"
    )


async def test_belfius_sca_token_satisfies_the_90_day_rule(store: Store, tmp_path: Path) -> None:
    """Seed 002: a valid SCA-Token (a JWT, one hour) allows old transactions; stale or foreign ones do not."""
    key, stranger = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "sca-token-key.pem"
    pem.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    rules = Rules(store, [bound("consent-window", sca_token_public_keys=[str(pem)])])
    late = T0 + 25 * MINUTE
    fresh = {**CONSENT, "SCA-Token": sca_token(key, late - 10 * MINUTE)}
    stale = {**CONSENT, "SCA-Token": sca_token(key, late - 70 * MINUTE)}
    foreign = {**CONSENT, "SCA-Token": sca_token(stranger, late - MINUTE)}
    assert await rules.status(OLD, now_ms=late, headers=fresh, consent=recurring()) == 200
    assert await rules.status(OLD, now_ms=late, headers=stale, consent=recurring()) == "PERIOD_INVALID"
    assert await rules.status(OLD, now_ms=late, headers=foreign, consent=recurring()) == "PERIOD_INVALID"
    assert (
        await rules.status(OLD, now_ms=late, headers={**CONSENT, "SCA-Token": "x.y.z"}, consent=recurring())
        == "PERIOD_INVALID"
    )
