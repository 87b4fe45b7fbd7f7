"""Every error body the gateway produces validates against the Berlin Group error schemas.

The schemas come from the shipped NextGenPSD2 1.3.11 OpenAPI file (``ErrorNNN_NG_<service>``),
picked by status and service, ``$ref``s resolved against the whole document. In 1.3.11 the
message codes are plain strings (no enum), so the schema checks the shape: ``tppMessages`` items
with ``category`` ERROR|WARNING, a string ``code``, ``text`` of at most 500 characters.
The spec defines no error body for 413, 414, 415 or any 5xx, and 429 only for AIS: those are
checked for the same ``tppMessages`` shape with the generic (AIS 400) item schema.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from faultkit import write_policies
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki
from support.redis_server import free_port

from gateway.eidas.oids import Role
from gateway.settings import StoreSettings
from gateway.signatures.sign import sign_request

pytestmark = pytest.mark.resilience

SPEC_PATH = Path("/work/shared/specs/psd2-api_v1.3.11-2021-10-01v1.yaml")
SHIPPED_SPEC = (
    Path(__file__).resolve().parents[2] / "gateway" / "openapi" / "psd2-api_v1.3.11-2021-10-01v1.yaml"
)
SPEC_URI = "urn:berlin-group:psd2-api-1.3.11"
PAYMENT = "/v1/payments/sepa-credit-transfers"
BODY = json.dumps({"instructedAmount": {"currency": "EUR", "amount": "1.00"}}).encode()
EXTRA_POLICIES = """
defaults:
  policies: [request-id]
routes:
  - name: pis-sealed
    service: PIS
    path: /v1/payments/**
    methods: [POST, GET]
    policies:
      - accept: {offers: [application/json]}
      - rate-limit: {key: "{tpp}-{header:X-Bucket}", algorithm: log, limits: [{count: 1, per: 1h}]}
      - qseal-signature: {audit: false}
  - name: piis
    service: PIIS
    path: /v1/funds-confirmations
    methods: [POST]
    policies:
      - accept: {offers: [application/json]}
      - tpp-role: {any-of: [PSP_IC]}
  - name: ais
    service: AIS
    path: /v1/accounts/**
    methods: [GET]
    policies:
      - accept: {offers: [application/json]}
"""


@dataclass
class Collected:
    label: str
    service: str
    status: int
    body: Any


def spec_document() -> dict[str, Any]:
    path = SPEC_PATH if SPEC_PATH.exists() else SHIPPED_SPEC
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


SPEC = spec_document()
REGISTRY: Registry = Registry().with_resource(SPEC_URI, Resource.from_contents(SPEC, DRAFT202012))
GENERIC = {
    "type": "object",
    "required": ["tppMessages"],
    "properties": {
        "tppMessages": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": f"{SPEC_URI}#/components/schemas/tppMessage400_AIS"},
        }
    },
}


def schema_for(status: int, service: str) -> tuple[str, dict[str, Any]]:
    """The spec's ``ErrorNNN_NG_<service>``, else the generic tppMessages shape."""
    name = f"Error{status}_NG_{service}"
    if name in SPEC["components"]["schemas"]:
        return name, {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
    return "tppMessages shape (no schema in the spec)", GENERIC


def problems(collected: Collected) -> list[str]:
    name, schema = schema_for(collected.status, collected.service)
    validator = Draft202012Validator(schema, registry=REGISTRY)
    found = [
        f"{collected.label} ({collected.status}, {name}): {e.message}"
        for e in validator.iter_errors(collected.body)
    ]
    messages = collected.body.get("tppMessages") if isinstance(collected.body, dict) else None
    if not messages:
        found.append(f"{collected.label} ({collected.status}): no tppMessages in {collected.body!r}")
    return found


class Driver:
    """Sends requests and keeps every error body with its route's service."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.collected: list[Collected] = []

    async def send(
        self,
        client: aiohttp.ClientSession,
        label: str,
        service: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        expect: tuple[int, str] | None = None,
    ) -> tuple[int, Any]:
        headers = {"X-Request-ID": str(uuid.uuid4()), **(headers or {})}
        async with client.request(method, self.base + path, headers=headers, data=body) as r:
            raw = await r.read()
            payload = json.loads(raw) if raw and r.content_type.endswith("json") else raw.decode("latin-1")
        if r.status >= 400:
            self.collected.append(Collected(label, service, r.status, payload))
        if expect is not None:
            code = (
                payload["tppMessages"][0]["code"]
                if isinstance(payload, dict) and "tppMessages" in payload
                else ""
            )
            assert (r.status, code) == expect, (label, r.status, payload)
        return r.status, payload


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).timestamp()

    def __call__(self) -> float:
        return self.now


async def drive_berlin_group(
    driver: Driver,
    tpp: aiohttp.ClientSession,
    pisp: aiohttp.ClientSession,
    other: aiohttp.ClientSession,
    clock: Clock,
) -> None:
    send = driver.send
    await send(
        tpp,
        "missing X-Request-ID",
        "AIS",
        "GET",
        "/v1/accounts",
        {"X-Request-ID": ""},
        expect=(400, "FORMAT_ERROR"),
    )
    await send(
        tpp,
        "X-Request-ID not a UUID",
        "PIS",
        "GET",
        "/v1/payments/sepa-credit-transfers/p1",
        {"X-Request-ID": "x"},
        expect=(400, "FORMAT_ERROR"),
    )
    await send(pisp, "role (AIS)", "AIS", "GET", "/v1/accounts/a1/balances", expect=(401, "ROLE_INVALID"))
    await send(
        pisp,
        "role (PIIS)",
        "PIIS",
        "POST",
        "/v1/funds-confirmations",
        body=b"{}",
        expect=(401, "ROLE_INVALID"),
    )
    await send(tpp, "unknown resource", "AIS", "GET", "/v1/nothing-here", expect=(404, "RESOURCE_UNKNOWN"))
    await send(tpp, "method (AIS)", "AIS", "DELETE", "/v1/accounts", expect=(405, "SERVICE_INVALID"))
    await send(
        tpp, "method (PIIS)", "PIIS", "GET", "/v1/funds-confirmations", expect=(405, "SERVICE_INVALID")
    )
    await send(
        tpp,
        "method (PIS)",
        "PIS",
        "PATCH",
        "/v1/payments/sepa-credit-transfers/p1",
        expect=(405, "SERVICE_INVALID"),
    )
    # Over aiohttp's request-line limit (8190): the HTTP parser's 400, still a Berlin Group body.
    await send(tpp, "long target", "AIS", "GET", "/v1/accounts/" + "a" * 9000, expect=(400, "FORMAT_ERROR"))
    await send(
        tpp, "encoded body", "AIS", "POST", "/v1/consents", {"Content-Encoding": "gzip"}, b"x", expect=None
    )
    await send(
        tpp,
        "too long validity",
        "AIS",
        "POST",
        "/v1/consents",
        {"PSU-ID": "PSU-1001", "Content-Type": "application/json"},
        json.dumps(
            {
                "access": {"allPsd2": "allAccounts"},
                "recurringIndicator": True,
                "validUntil": "2099-12-31",
                "frequencyPerDay": 4,
            }
        ).encode(),
    )
    # A consent of the default TPP: another TPP, unattended reads over the limit, then expiry.
    tomorrow = (dt.datetime.fromtimestamp(clock.now, dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    request = {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": True,
        "validUntil": tomorrow,
        "frequencyPerDay": 4,
    }
    status, created = await send(
        tpp,
        "create consent",
        "AIS",
        "POST",
        "/v1/consents",
        {"PSU-ID": "PSU-1001", "Content-Type": "application/json"},
        json.dumps(request).encode(),
    )
    assert status == 201, created
    consent_id = created["consentId"]
    json_type = {"Content-Type": "application/json"}
    status, auth = await send(
        tpp, "authorise", "AIS", "POST", f"/v1/consents/{consent_id}/authorisations", json_type, b"{}"
    )
    done_url = f"/v1/consents/{consent_id}/authorisations/{auth['authorisationId']}"
    await send(
        tpp,
        "sca",
        "AIS",
        "PUT",
        done_url,
        json_type,
        json.dumps({"psuData": {"password": "sandbox"}}).encode(),
    )
    consent = {"Consent-ID": consent_id}
    await send(
        other,
        "consent of another TPP",
        "AIS",
        "GET",
        "/v1/accounts",
        consent,
        expect=(403, "CONSENT_UNKNOWN"),
    )
    for _ in range(4):  # 20 minutes apart: the same query within 15 minutes is a free page
        clock.now += 20 * 60
        await send(tpp, "unattended read", "AIS", "GET", "/v1/accounts", consent)
    clock.now += 20 * 60
    await send(
        tpp, "fifth unattended read", "AIS", "GET", "/v1/accounts", consent, expect=(429, "ACCESS_EXCEEDED")
    )
    clock.now += 3 * 86_400
    await send(
        tpp,
        "expired consent",
        "AIS",
        "GET",
        "/v1/accounts",
        {**consent, "PSU-IP-Address": "192.0.2.1"},
        expect=(401, "CONSENT_EXPIRED"),
    )
    await send(
        tpp,
        "unknown consent (core answer)",
        "AIS",
        "GET",
        "/v1/accounts",
        {"Consent-ID": "nope", "PSU-IP-Address": "192.0.2.1"},
    )


def sealed(seal: Any, *, date: str | None = None, body: bytes = BODY) -> dict[str, str]:
    headers = {
        "X-Request-ID": str(uuid.uuid4()),
        "Date": date or email.utils.formatdate(usegmt=True),
        "Content-Type": "application/json",
    }
    return {**headers, **sign_request("POST", PAYMENT, headers, body, key=seal.key, certificate=seal.cert)}


async def drive_extra(driver: Driver, tpp: aiohttp.ClientSession, pki: TestPki) -> None:
    seal = pki.qtsp.issue_qseal(key_type="rsa2048")
    send = driver.send
    good = sealed(seal)
    no_cert = {k: v for k, v in good.items() if k != "TPP-Signature-Certificate"}
    no_sig = {k: v for k, v in good.items() if k != "Signature"}
    stale = sealed(seal, date=email.utils.formatdate(dt.datetime.now(dt.UTC).timestamp() - 3600, usegmt=True))
    await send(tpp, "signature missing", "PIS", "POST", PAYMENT, no_sig, BODY, (401, "SIGNATURE_MISSING"))
    await send(
        tpp,
        "signature invalid",
        "PIS",
        "POST",
        PAYMENT,
        sealed(seal),
        BODY + b" ",
        (401, "SIGNATURE_INVALID"),
    )
    await send(
        tpp, "certificate missing", "PIS", "POST", PAYMENT, no_cert, BODY, (401, "CERTIFICATE_MISSING")
    )
    rogue = sealed(pki.rogue.issue_qseal())
    await send(tpp, "certificate invalid", "PIS", "POST", PAYMENT, rogue, BODY, (401, "CERTIFICATE_INVALID"))
    await send(tpp, "timestamp invalid", "PIS", "POST", PAYMENT, stale, BODY, (400, "TIMESTAMP_INVALID"))
    bucket = {"X-Bucket": str(uuid.uuid4())}
    await send(tpp, "within rate limit", "PIS", "POST", PAYMENT, {**sealed(seal), **bucket}, BODY, None)
    await send(
        tpp,
        "over rate limit (PIS)",
        "PIS",
        "POST",
        PAYMENT,
        {**sealed(seal), **bucket},
        BODY,
        (429, "ACCESS_EXCEEDED"),
    )
    xml = {"Accept": "application/xml"}
    await send(
        tpp, "accept (PIS)", "PIS", "GET", f"{PAYMENT}/p1", xml, None, (406, "REQUESTED_FORMATS_INVALID")
    )
    await send(
        tpp, "accept (AIS)", "AIS", "GET", "/v1/accounts/a", xml, None, (406, "REQUESTED_FORMATS_INVALID")
    )
    await send(
        tpp,
        "accept (PIIS)",
        "PIIS",
        "POST",
        "/v1/funds-confirmations",
        xml,
        b"{}",
        (406, "REQUESTED_FORMATS_INVALID"),
    )
    await send(tpp, "body too large", "PIS", "POST", PAYMENT, {}, b"x" * (2 * 1024 * 1024), None)


async def test_every_gateway_error_body_validates_against_the_berlin_group_schemas(
    start: StartGateway,
    core: RecordingCore,
    client_for: Callable[[Pem | None], aiohttp.ClientSession],
    tpp: Pem,
    pki: TestPki,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """Each rejection class (FORMAT_ERROR ... CONSENT_*, 404-406, 413, 415, 5xx) validates."""
    clock = Clock()
    bg = await start(clock=clock, store=StoreSettings(url=redis_url, budget_ms=1000))
    pisp = client_for(pki.qwac(roles=[Role.PSP_PI]))
    other = client_for(pki.qwac(organization_id="PSDBE-NBB-5555555555"))
    driver = Driver(bg.url)
    await drive_berlin_group(driver, client_for(tpp), pisp, other, clock)
    extra = await start(core.url, policies=write_policies(tmp_path, EXTRA_POLICIES))
    extra_driver = Driver(extra.url)
    await drive_extra(extra_driver, client_for(tpp), pki)
    # 5xx: the store away (fail closed) and the core away.
    down = await start(core.url, store=StoreSettings(url="redis://127.0.0.1:1/0", budget_ms=50))
    down_driver = Driver(down.url)
    await down_driver.send(
        client_for(tpp), "store down", "AIS", "GET", "/v1/accounts", expect=(503, "SERVICE_UNAVAILABLE")
    )
    no_core = await start(
        f"http://127.0.0.1:{free_port()}", policies=write_policies(tmp_path, EXTRA_POLICIES)
    )
    down_driver.base = no_core.url
    await down_driver.send(
        client_for(tpp), "core down", "AIS", "GET", "/v1/accounts/a", expect=(502, "BAD_GATEWAY")
    )
    collected = driver.collected + extra_driver.collected + down_driver.collected
    codes = {
        c.body["tppMessages"][0]["code"]
        for c in collected
        if isinstance(c.body, dict) and c.body.get("tppMessages")
    }
    statuses = {c.status for c in collected}
    found = [p for c in collected for p in problems(c)]
    assert not found, "\n".join(found)
    wanted = {
        "FORMAT_ERROR",
        "ROLE_INVALID",
        "CERTIFICATE_MISSING",
        "CERTIFICATE_INVALID",
        "SIGNATURE_MISSING",
        "SIGNATURE_INVALID",
        "TIMESTAMP_INVALID",
        "ACCESS_EXCEEDED",
        "CONSENT_UNKNOWN",
        "CONSENT_EXPIRED",
        "RESOURCE_UNKNOWN",
        "SERVICE_INVALID",
        "REQUESTED_FORMATS_INVALID",
        "SERVICE_UNAVAILABLE",
    }
    assert wanted <= codes, wanted - codes
    assert {400, 401, 403, 404, 405, 406, 413, 415, 429, 502, 503} <= statuses, statuses
