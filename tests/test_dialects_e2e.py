"""Bank dialects end to end: a Belfius-style face and a Berlin Group face on one core."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import REPO, StartGateway
from support.pki import Pem

from gateway.settings import IdentitySettings

POLICIES = [REPO / "policies" / "belfius", REPO / "policies" / "berlin-group"]
BELFIUS = "psd2.b2b.belfius.be"
VENDOR = "application/vnd.belfius.api+json; version=2"


def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text("tpps:\n  PSDBE-NBB-0123456789:\n    client-ids: [dev-tpp-app]\n")
    return path


def belfius_headers(**extra: str) -> dict[str, str]:
    return {
        "Host": BELFIUS,
        "Request-ID": str(uuid.uuid4()),
        "Client-ID": "dev-tpp-app",
        "Accept": VENDOR,
        **extra,
    }


async def start_both(start: StartGateway, upstream: str, tmp_path: Path) -> Any:
    return await start(upstream, policies=POLICIES, identity=IdentitySettings(registry=registry(tmp_path)))


async def test_belfius_request_is_translated_both_ways(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """Request-ID reaches the core as X-Request-ID, comes back as Response-ID, with the vendor type."""
    gateway = await start_both(start, core.url, tmp_path)
    headers = belfius_headers()
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts/acc-1/balances", headers=headers) as r:
        assert r.status == 200
        assert r.headers["Response-ID"] == headers["Request-ID"]
        assert "X-Request-ID" not in r.headers
        assert r.headers["Content-Type"] == VENDOR
    (seen,) = core.seen
    assert seen.header("X-Request-ID") == [headers["Request-ID"]]
    assert seen.header("Request-ID") == [] and seen.header("Client-ID") == []
    assert seen.header("X-PSD2GW-TPP-Organization-ID") == ["PSDBE-NBB-0123456789"]


@pytest.mark.parametrize(
    ("change", "status", "error", "error_code"),
    [
        ({"Request-ID": None}, 400, "invalid_request", "400.001"),
        ({"Client-ID": "someone-else"}, 401, "unauthorized", "401.001"),
        ({"Accept": "text/xml"}, 406, "not_acceptable", "406.001"),
    ],
)
async def test_gateway_errors_in_the_belfius_dialect(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    tmp_path: Path,
    change: dict[str, str | None],
    status: int,
    error: str,
    error_code: str,
) -> None:
    """Rejections on a Belfius host are {error, error_code, error_description}, echoing Response-ID."""
    gateway = await start_both(start, core.url, tmp_path)
    headers = {k: v for k, v in {**belfius_headers(), **change}.items() if v is not None}
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts/acc-1/balances", headers=headers) as r:
        body = await r.json()
        assert r.status == status
        if "Request-ID" in headers:
            assert r.headers["Response-ID"] == headers["Request-ID"]
    assert set(body) == {"error", "error_code", "error_description"}
    assert (body["error"], body["error_code"]) == (error, error_code)
    assert core.seen == []


async def test_core_errors_are_translated_and_never_leak(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """A core's unreadable 500 becomes a generic Belfius error: nothing of its body reaches the TPP."""
    core.status = 500
    core.response_headers = [("X-Backend-Host", "core-7.bank.internal")]
    gateway = await start_both(start, core.url, tmp_path)
    async with client_for(tpp).get(
        f"{gateway.url}/v1/accounts/acc-1/balances", headers=belfius_headers()
    ) as r:
        assert r.status == 500
        body = await r.json()
        text = await r.text()
    assert body["error"] == "internal_server_error"
    assert "core" not in text and "target" not in text


async def test_sandbox_core_errors_in_both_dialects(
    start: StartGateway, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """The same core error is Belfius-shaped on the Belfius host and Berlin Group elsewhere."""
    gateway = await start_both(start, "builtin:sandbox", tmp_path)
    client = client_for(tpp)
    url = f"{gateway.url}/v1/accounts/acc-1/balances"
    async with client.get(url, headers=belfius_headers(**{"Consent-ID": "nope"})) as r:
        belfius = (r.status, await r.json())
    bg_headers = {"X-Request-ID": str(uuid.uuid4()), "Consent-ID": "nope"}
    async with client.get(url, headers=bg_headers) as r:
        berlin = (r.status, await r.json())
    assert belfius == (
        403,
        {"error": "forbidden", "error_code": "403.001", "error_description": belfius[1]["error_description"]},
    )
    assert berlin[0] == 403 and berlin[1]["tppMessages"][0]["code"] == "CONSENT_UNKNOWN"


async def test_belfius_tpp_gets_account_data_through(
    start: StartGateway, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """A full consent flow in the Belfius dialect against the Berlin Group sandbox core."""
    gateway = await start_both(start, "builtin:sandbox", tmp_path)
    client, base = client_for(tpp), gateway.url
    body = {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "frequencyPerDay": 4,
        "validUntil": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
    }
    async with client.post(f"{base}/v1/consents", json=body, headers=belfius_headers()) as r:
        assert r.status == 201, await r.text()
        consent = (await r.json())["consentId"]
    async with client.post(
        f"{base}/v1/consents/{consent}/authorisations", json={}, headers=belfius_headers()
    ) as r:
        auth = (await r.json())["authorisationId"]
    async with client.put(
        f"{base}/v1/consents/{consent}/authorisations/{auth}",
        json={"psuData": {"password": "x"}},
        headers=belfius_headers(),
    ) as r:
        assert r.status == 200
    async with client.get(f"{base}/v1/accounts", headers=belfius_headers(**{"Consent-ID": consent})) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"] == VENDOR
        assert (await r.json())["accounts"]


async def test_second_brand_on_its_own_host(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """psd2.b2b.banx.be is served by the banx profile, visible in metrics."""
    gateway = await start_both(start, core.url, tmp_path)
    headers = belfius_headers(Host="psd2.b2b.banx.be")
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts/acc-1/balances", headers=headers) as r:
        assert r.status == 200
    import aiohttp

    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        assert 'profile="banx",route="banx-accounts"' in await r.text()


async def test_each_brand_can_have_its_own_registry(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """A TPP blocked in the Belfius brand's registry is refused there and served by the Berlin Group face."""
    brand = tmp_path / "belfius"
    brand.mkdir()
    blocked = tmp_path / "belfius-registry.yaml"
    blocked.write_text("tpps:\n  PSDBE-NBB-0123456789: {status: blocked, client-ids: [dev-tpp-app]}\n")
    text = (REPO / "policies" / "belfius" / "belfius.yaml").read_text()
    (brand / "belfius.yaml").write_text(
        text.replace("  upstream: default\n", f"  upstream: default\n  registry: {blocked}\n")
    )
    gateway = await start(
        core.url,
        policies=[brand, REPO / "policies" / "berlin-group"],
        identity=IdentitySettings(registry=registry(tmp_path)),
    )
    client = client_for(tpp)
    async with client.get(f"{gateway.url}/v1/accounts/acc-1/balances", headers=belfius_headers()) as r:
        body = await r.json()
        assert (r.status, body["error_code"]) == (401, "401.004")
    async with client.get(
        f"{gateway.url}/v1/accounts/acc-1/balances", headers={"X-Request-ID": str(uuid.uuid4())}
    ) as r:
        assert r.status == 200
