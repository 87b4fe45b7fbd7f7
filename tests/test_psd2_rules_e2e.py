"""The PSD2 rules end to end: real server, mTLS, the sandbox core, Redis, and an injected clock."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem

from gateway.settings import StoreSettings

# "Now", to the minute: the test certificates are valid from now on, so the clock starts here.
BRUSSELS = ZoneInfo("Europe/Brussels")
MINUTE = 60.0


class Clock:
    """Starts at the current minute when the test starts.

    Not at import: certificates issued during a long suite run are backdated only minutes, and
    a clock from the suite's start would find them not valid yet.
    """

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0).timestamp()

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.now, dt.UTC).date()

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * MINUTE


class Tpp:
    """A TPP client speaking Berlin Group to the gateway."""

    def __init__(self, client: aiohttp.ClientSession, base: str) -> None:
        self.client, self.base = client, base

    async def call(self, method: str, path: str, *, json: Any = None, **headers: str) -> tuple[int, Any, Any]:
        headers = {"X-Request-ID": str(uuid.uuid4()), **{k.replace("_", "-"): v for k, v in headers.items()}}
        async with self.client.request(method, self.base + path, json=json, headers=headers) as r:
            body = await r.json() if r.content_type.endswith("json") else None
            return r.status, body, r.headers

    async def consent(self, *, recurring: bool = True, frequency: int = 4) -> str:
        body = {
            "access": {"allPsd2": "allAccounts"},
            "recurringIndicator": recurring,
            "validUntil": (dt.date.today() + dt.timedelta(days=120)).isoformat(),
            "frequencyPerDay": frequency,
        }
        status, created, _ = await self.call("POST", "/v1/consents", json=body, PSU_ID="PSU-1001")
        assert status == 201, created
        consent = str(created["consentId"])
        status, auth, _ = await self.call("POST", f"/v1/consents/{consent}/authorisations", json={})
        assert status == 201, auth
        url = f"/v1/consents/{consent}/authorisations/{auth['authorisationId']}"
        status, done, _ = await self.call("PUT", url, json={"psuData": {"password": "sandbox"}})
        assert status == 200, done
        return consent

    async def first_account(self, consent: str) -> str:
        status, body, _ = await self.call(
            "GET", "/v1/accounts", Consent_ID=consent, PSU_IP_Address="192.0.2.1"
        )
        assert status == 200, body
        return str(body["accounts"][0]["resourceId"])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def tpp_client(start: StartGateway, client_for: Any, tpp: Pem, clock: Clock, redis_url: str) -> Tpp:
    gateway = await start(clock=clock, store=StoreSettings(url=redis_url, budget_ms=1000))
    return Tpp(client_for(tpp), gateway.url)


def code(body: Any) -> str:
    return str(body["tppMessages"][0]["code"])


async def test_fifth_unattended_access_gets_429_and_psu_present_never_counts(
    tpp_client: Tpp, clock: Clock
) -> None:
    """Four unattended reads a day pass, the fifth is 429 with Retry-After; the PSU's own reads are free."""
    consent = await tpp_client.consent()
    account = await tpp_client.first_account(consent)
    path = f"/v1/accounts/{account}/balances"
    for _ in range(4):
        clock.advance(20)
        assert (await tpp_client.call("GET", path, Consent_ID=consent))[0] == 200
        assert (await tpp_client.call("GET", path, Consent_ID=consent, PSU_IP_Address="192.0.2.1"))[0] == 200
    clock.advance(20)
    status, body, headers = await tpp_client.call("GET", path, Consent_ID=consent)
    assert (status, code(body)) == (429, "ACCESS_EXCEEDED")
    assert int(headers["Retry-After"]) == int((24 * 60 - 80) * MINUTE)
    assert (await tpp_client.call("GET", path, Consent_ID=consent, PSU_IP_Address="192.0.2.1"))[0] == 200


async def test_pages_within_15_minutes_are_free_and_the_same_query_later_counts(
    tpp_client: Tpp, clock: Clock
) -> None:
    """Page 2 within 15 minutes is not counted; the same query after 15 minutes is."""
    consent = await tpp_client.consent()
    account = await tpp_client.first_account(consent)
    since = (clock.today() - dt.timedelta(days=30)).isoformat()
    report = f"/v1/accounts/{account}/transactions?bookingStatus=booked&dateFrom={since}"
    plan = [(0, 0, 200), (10, 1, 200), (20, 0, 200), (21, 1, 200), (40, 0, 200), (60, 0, 200), (80, 0, 429)]
    elapsed = 0.0
    for minute, page, expected in plan:
        clock.advance(minute - elapsed)
        elapsed = minute
        status, body, _ = await tpp_client.call("GET", f"{report}&page={page}", Consent_ID=consent)
        assert status == expected, (minute, page, body)


async def test_one_off_consent_ends_after_20_minutes(tpp_client: Tpp, clock: Clock) -> None:
    """A one-off consent reads at minute 19; the 21st minute is CONSENT_EXPIRED."""
    consent = await tpp_client.consent(recurring=False, frequency=1)
    clock.advance(19)
    status, body, _ = await tpp_client.call(
        "GET", "/v1/accounts", Consent_ID=consent, PSU_IP_Address="192.0.2.1"
    )
    assert status == 200, body
    clock.advance(2)
    status, body, _ = await tpp_client.call(
        "GET", "/v1/accounts", Consent_ID=consent, PSU_IP_Address="192.0.2.1"
    )
    assert (status, code(body)) == (401, "CONSENT_EXPIRED")


async def test_91_day_old_date_from_passes_at_minute_5_and_fails_at_minute_25(
    tpp_client: Tpp, clock: Clock
) -> None:
    """History beyond 90 days: once, within 20 minutes after SCA; refused later."""
    consent = await tpp_client.consent()
    account = await tpp_client.first_account(consent)
    old = (clock.today() - dt.timedelta(days=91)).isoformat()
    path = f"/v1/accounts/{account}/transactions?bookingStatus=booked&dateFrom={old}"
    clock.advance(5)
    status, body, _ = await tpp_client.call("GET", path, Consent_ID=consent, PSU_IP_Address="192.0.2.1")
    assert status == 200, body
    status, body, _ = await tpp_client.call("GET", path, Consent_ID=consent, PSU_IP_Address="192.0.2.1")
    assert (status, code(body)) == (400, "PERIOD_INVALID"), "a recurring consent: the first request only"
    clock.advance(20)
    status, body, _ = await tpp_client.call(
        "GET", path.replace(account, "other"), Consent_ID=consent, PSU_IP_Address="192.0.2.1"
    )
    assert (status, code(body)) == (400, "PERIOD_INVALID")


async def test_another_tpp_cannot_use_the_consent(
    start: StartGateway, client_for: Any, tpp: Pem, pki: Any, clock: Clock, redis_url: str
) -> None:
    """A consent created by one TPP is CONSENT_UNKNOWN for another."""
    gateway = await start(clock=clock, store=StoreSettings(url=redis_url, budget_ms=1000))
    owner = Tpp(client_for(tpp), gateway.url)
    consent = await owner.consent()
    other = Tpp(client_for(pki.qwac(organization_id="PSDBE-NBB-5555555555")), gateway.url)
    status, body, _ = await other.call("GET", "/v1/accounts", Consent_ID=consent, PSU_IP_Address="192.0.2.1")
    assert (status, code(body)) == (403, "CONSENT_UNKNOWN")


def policy_dir(tmp_path: Path, policies: str) -> Path:
    (tmp_path / "routes.yaml").write_text(
        "routes:\n  - name: accounts\n    service: AIS\n    path: /v1/accounts/**\n"
        f"    methods: [GET]\n    policies:\n{policies}"
    )
    return tmp_path


async def test_maintenance_window_answers_503_with_retry_after(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, clock: Clock, tmp_path: Path
) -> None:
    """Seed 000's announced window: 503 SERVICE_UNAVAILABLE with Retry-After until it ends."""
    local = dt.datetime.fromtimestamp(clock.now, BRUSSELS).replace(tzinfo=None)
    start_at, end_at = (
        (local + dt.timedelta(minutes=30)).isoformat(),
        (local + dt.timedelta(minutes=120)).isoformat(),
    )
    policies = policy_dir(
        tmp_path,
        "      - maintenance-window:\n          timezone: Europe/Brussels\n          windows:\n"
        f"            - {{start: '{start_at}', end: '{end_at}', reason: Technical update}}\n",
    )
    gateway = await start(core.url, clock=clock, policies=policies)
    client = Tpp(client_for(tpp), gateway.url)
    assert (await client.call("GET", "/v1/accounts"))[0] == 200
    clock.advance(45)
    status, body, headers = await client.call("GET", "/v1/accounts")
    assert (status, code(body)) == (503, "SERVICE_UNAVAILABLE")
    assert headers["Retry-After"] == str(75 * 60)


async def test_shadow_rule_never_rejects_but_is_counted(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, clock: Clock, tmp_path: Path
) -> None:
    """A frequency rule in shadow mode lets the sixth read through and counts what it would have done."""
    policies = policy_dir(tmp_path, "      - access-frequency: {mode: shadow, pagination-window-s: 0}\n")
    gateway = await start(core.url, clock=clock, policies=policies)
    client = Tpp(client_for(tpp), gateway.url)
    for _ in range(6):
        assert (await client.call("GET", "/v1/accounts/a/balances", Consent_ID="c-1"))[0] == 200
    metrics_url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
    async with aiohttp.ClientSession() as plain, plain.get(metrics_url) as r:
        scrape = await r.text()
    shadow = (
        'psd2gw_policy_rejections_total{code="ACCESS_EXCEEDED",mode="shadow",rule="access-frequency"} 2.0'
    )
    assert shadow in scrape


async def test_announced_windows_are_listed_for_tpps(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, clock: Clock, tmp_path: Path
) -> None:
    """GET /v1/maintenance-windows lists coming windows, answered by the gateway itself."""
    local = dt.datetime.fromtimestamp(clock.now, BRUSSELS).replace(tzinfo=None)
    start_at, end_at = (
        (local + dt.timedelta(days=1)).isoformat(),
        (local + dt.timedelta(days=1, hours=2)).isoformat(),
    )
    (tmp_path / "routes.yaml").write_text(
        "defaults:\n  policies:\n    - maintenance-window:\n        windows:\n"
        f"          - {{start: '{start_at}', end: '{end_at}', reason: Core upgrade}}\n"
        "routes:\n  - {name: windows, path: /v1/maintenance-windows, answer: maintenance-windows}\n"
    )
    gateway = await start(core.url, clock=clock, policies=tmp_path)
    status, body, _ = await Tpp(client_for(tpp), gateway.url).call("GET", "/v1/maintenance-windows")
    assert status == 200
    (window,) = body["maintenanceWindows"]
    assert window["reason"] == "Core upgrade" and window["start"].startswith(start_at[:16])
    assert core.seen == []
