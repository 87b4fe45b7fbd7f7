"""The sandbox core end to end: consent lifecycle, error rendering, routing and the real server."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.sandbox import SandboxServer, start_sandbox

from .factories import TODAY, Client, consent_body, create_consent, error_of, sca_path


async def test_consent_lifecycle_from_creation_to_deletion(client: Client) -> None:
    """A consent goes received, SCA, valid; serves paged, date-filtered AIS reads; 401s once deleted."""
    headers = {"TPP-Explicit-Authorisation-Preferred": "true", "PSU-ID": "PSU-1001"}
    created = await create_consent(client, headers=headers)
    consent_id = created["consentId"]
    assert created["consentStatus"] == "received"
    assert "startAuthorisation" in created["_links"]

    started = await client.post(f"/v1/consents/{consent_id}/authorisations")
    assert started.status == 201
    auth = await started.json()
    assert auth["scaStatus"] == "received"
    sca = await client.get(sca_path(auth), params={"psu": "PSU-1001", "result": "ok"})
    assert (await sca.json())["scaStatus"] == "finalised"
    status = await client.get(f"/v1/consents/{consent_id}/status")
    assert (await status.json()) == {"consentStatus": "valid"}

    ais = {"Consent-ID": consent_id}
    listed = await (await client.get("/v1/accounts", headers=ais)).json()
    assert len(listed["accounts"]) == 3
    account = listed["accounts"][0]["resourceId"]
    balances = await (await client.get(f"/v1/accounts/{account}/balances", headers=ais)).json()
    assert {b["balanceType"] for b in balances["balances"]} == {
        "closingBooked",
        "expected",
        "interimAvailable",
    }

    date_from = TODAY.replace(month=1, day=1).isoformat()
    query = {"bookingStatus": "booked", "dateFrom": date_from, "pageSize": "10"}
    page = await (await client.get(f"/v1/accounts/{account}/transactions", params=query, headers=ais)).json()
    assert len(page["transactions"]["booked"]) == 10
    assert all(t["bookingDate"] >= date_from for t in page["transactions"]["booked"])
    links = page["transactions"]["_links"]
    assert {"account", "first", "next", "last"} <= set(links) and "previous" not in links
    assert "dateFrom=" + date_from in links["next"]["href"] and "page=1" in links["next"]["href"]

    assert (await client.delete(f"/v1/consents/{consent_id}")).status == 204
    assert (await (await client.get(f"/v1/consents/{consent_id}/status")).json())["consentStatus"] == (
        "terminatedByTpp"
    )
    assert await error_of(await client.get("/v1/accounts", headers=ais)) == (401, "CONSENT_INVALID")


async def test_request_id_is_echoed_on_success_and_error(client: Client) -> None:
    """X-Request-ID comes back unchanged on a 201 and on a 404."""
    rid = {"X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721"}
    ok = await client.post("/v1/consents", json=consent_body(), headers=rid)
    missing = await client.get("/v1/nothing-here", headers=rid)
    assert ok.headers["X-Request-ID"] == missing.headers["X-Request-ID"] == rid["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v2/accounts", 404, "RESOURCE_UNKNOWN"),
        ("GET", "/", 404, "RESOURCE_UNKNOWN"),
        ("POST", "/v1/unknown-payments/sepa-credit-transfers", 404, "RESOURCE_UNKNOWN"),
        ("PUT", "/v1/accounts", 405, "SERVICE_INVALID"),
        ("DELETE", "/v1/accounts/abc", 405, "SERVICE_INVALID"),
        ("GET", "/v1/consents", 405, "SERVICE_INVALID"),
        ("PATCH", "/v1/funds-confirmations", 405, "SERVICE_INVALID"),
        ("GET", "/v1/payments/bitcoin-transfers/123", 404, "PRODUCT_UNKNOWN"),
        ("GET", "/v1/payments/sepa-credit-transfers/123", 403, "RESOURCE_UNKNOWN"),
        ("GET", "/v1/consents/123", 403, "CONSENT_UNKNOWN"),
        ("GET", "/sandbox/sca/123", 404, "RESOURCE_UNKNOWN"),
    ],
)
async def test_routing_errors_have_berlin_group_bodies(
    client: Client, method: str, path: str, status: int, code: str
) -> None:
    """Unknown paths, methods and resources answer with the spec's status and message code."""
    assert await error_of(await client.request(method, path)) == (status, code)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/consents",
        "/v1/payments/sepa-credit-transfers",
        "/v1/bulk-payments/sepa-credit-transfers",
        "/v1/funds-confirmations",
        "/v2/consents/confirmation-of-funds",
    ],
)
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"", b"[" * 5000])
async def test_unreadable_bodies_are_format_errors(client: Client, path: str, raw: bytes) -> None:
    """Bodies that are not a JSON object are a 400 FORMAT_ERROR on every POST endpoint."""
    response = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
    assert await error_of(response) == (400, "FORMAT_ERROR")


async def test_oversized_body_is_rejected_with_a_bg_body(client: Client) -> None:
    """A body above the 64 KiB limit is refused with 413 and a BG error, not a crash."""
    response = await client.post("/v1/consents", data=b" " * 70_000)
    assert await error_of(response) == (413, "FORMAT_ERROR")


async def test_sandbox_psus_lists_three_customers(client: Client) -> None:
    """GET /sandbox/psus names the three fictitious PSUs and their IBANs."""
    body = await (await client.get("/sandbox/psus")).json()
    assert [p["psuId"] for p in body["psus"]] == ["PSU-1001", "PSU-1002", "PSU-1003"]
    assert all(1 <= len(p["accounts"]) <= 3 for p in body["psus"])


async def test_start_sandbox_serves_on_an_ephemeral_port() -> None:
    """start_sandbox(port=0) binds a real loopback socket, reports its URL and closes cleanly."""
    server: SandboxServer = await start_sandbox(port=0)
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            body = consent_body(validUntil="9999-12-31")
            async with session.post(f"{server.url}/v1/consents", json=body) as response:
                assert response.status == 201
                created = await response.json()
            assert created["_links"]["scaRedirect"]["href"].startswith(server.url + "/sandbox/sca/")
            async with session.get(created["_links"]["scaRedirect"]["href"]) as response:
                assert (await response.json())["scaStatus"] == "finalised"
    finally:
        await server.close()
