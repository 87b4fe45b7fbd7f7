"""request-validation through the real gateway over mTLS: refused requests never reach the core."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem

from .factories import consent_body

POLICIES = """
defaults:
  policies: [request-id]
routes:
  - name: consents
    service: AIS
    path: /v1/consents/**
    methods: [POST]
    policies:
      - request-validation: {}
  - name: accounts
    service: AIS
    path: /v1/accounts/**
    methods: [GET]
    policies:
      - request-validation: {reject-unknown-query: true}
"""


async def call(client: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    headers = {"X-Request-ID": str(uuid.uuid4()), "Consent-ID": "consent-1", **kw.pop("headers", {})}
    async with client.request(method, url, headers=headers, **kw) as response:
        body = await response.read()
        return response.status, json.loads(body) if body else None


async def test_bad_booking_status_is_refused_with_path_and_valid_request_forwarded(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """A bad bookingStatus is 400 FORMAT_ERROR at query.bookingStatus, kept here; a valid one is forwarded."""
    (tmp_path / "routes.yaml").write_text(POLICIES, encoding="utf-8")
    gateway = await start(core.url, policies=tmp_path)
    client = client_for(tpp)
    url = f"{gateway.url}/v1/accounts/acc-1/transactions"

    status, body = await call(client, "GET", f"{url}?bookingStatus=everything")
    assert status == 400, body
    (message,) = body["tppMessages"]
    assert (message["code"], message["path"]) == ("FORMAT_ERROR", "query.bookingStatus")
    assert core.seen == []

    status, body = await call(client, "GET", f"{url}?bookingStatus=booked&dateFrom=2024-01-31")
    assert status == 200, body
    assert [seen.target for seen in core.seen] == [
        "/v1/accounts/acc-1/transactions?bookingStatus=booked&dateFrom=2024-01-31"
    ]


async def test_consent_body_problem_is_named_by_json_path(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """A consent with a bad IBAN is refused at body.access.accounts[0].iban; a valid consent is forwarded."""
    (tmp_path / "routes.yaml").write_text(POLICIES, encoding="utf-8")
    gateway = await start(core.url, policies=tmp_path)
    client = client_for(tpp)
    headers = {"PSU-IP-Address": "2001:db8::7"}
    bad = consent_body(access={"accounts": [{"iban": "not an iban"}]})

    status, body = await call(client, "POST", f"{gateway.url}/v1/consents", json=bad, headers=headers)
    assert (status, body["tppMessages"][0]["path"]) == (400, "body.access.accounts[0].iban")
    assert core.seen == []

    status, _ = await call(client, "POST", f"{gateway.url}/v1/consents", json=consent_body(), headers=headers)
    assert status == 200
    assert json.loads(core.seen[0].body) == consent_body()
