"""QSealC-sealed requests end to end: every failure class has its code and reaches no core."""

from __future__ import annotations

import email.utils
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.eidas.issue import IssuedCertificate
from gateway.settings import AuditSettings
from gateway.signatures.sign import sign_request

TARGET = "/v1/payments/sepa-credit-transfers"
BODY = json.dumps(
    {
        "instructedAmount": {"currency": "EUR", "amount": "123.50"},
        "creditorAccount": {"iban": "BE68539007547034"},
        "creditorName": "Merchant",
    }
).encode()


def policy_set(tmp: Path, **settings: Any) -> Path:
    options = "".join(f"\n          {k}: {json.dumps(v)}" for k, v in settings.items())
    (tmp / "policies").mkdir(exist_ok=True)
    (tmp / "policies" / "routes.yaml").write_text(
        "routes:\n  - name: pis\n    service: PIS\n    path: /v1/payments/**\n    methods: [POST, GET]\n"
        f"    policies:\n      - request-id\n      - qseal-signature:{options or ' {}'}\n"
    )
    return tmp / "policies"


def sealed(seal: IssuedCertificate, *, body: bytes = BODY, target: str = TARGET, **kw: Any) -> dict[str, str]:
    headers = {
        "X-Request-ID": str(uuid.uuid4()),
        "Date": email.utils.formatdate(usegmt=True),
        "PSU-ID": "PSU-1001",
        "Content-Type": "application/json",
    }
    headers.update(kw.pop("extra", {}))
    return {
        **headers,
        **sign_request("POST", target, headers, body, key=seal.key, certificate=seal.cert, **kw),
    }


async def post(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes = BODY
) -> tuple[int, str]:
    async with client.post(url, data=body, headers=headers) as r:
        payload = await r.json()
        return r.status, (payload.get("tppMessages") or [{}])[0].get("code", "")


@pytest.fixture
def seal(pki: TestPki) -> IssuedCertificate:
    return pki.qtsp.issue_qseal(key_type="rsa2048")


async def test_sealed_request_reaches_the_core_and_is_audited(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    seal: IssuedCertificate,
    tmp_path: Path,
) -> None:
    """A correctly sealed request is forwarded byte for byte and leaves an audit record."""
    audit = tmp_path / "audit.jsonl"
    gateway = await start(core.url, policies=policy_set(tmp_path), audit=AuditSettings(path=audit))
    headers = sealed(seal)
    assert await post(client_for(tpp), f"{gateway.url}{TARGET}", headers) == (200, "")
    (seen,) = core.seen
    assert seen.body == BODY
    await gateway.close()
    (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert record["decision"] == "accepted" and record["request_id"] == headers["X-Request-ID"]
    assert len(record["certificate_sha256"]) == 64 and record["signing_string"]


def tamper(headers: dict[str, str], name: str) -> dict[str, str]:
    changed = dict(headers)
    value = changed[name]
    changed[name] = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    return changed


@pytest.mark.parametrize("header", ["X-Request-ID", "PSU-ID", "Digest", "Signature"])
async def test_one_byte_changed_in_a_covered_header_fails(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    seal: IssuedCertificate,
    tmp_path: Path,
    header: str,
) -> None:
    """Any covered header altered after sealing is refused and never forwarded."""
    gateway = await start(core.url, policies=policy_set(tmp_path))
    status, code = await post(client_for(tpp), f"{gateway.url}{TARGET}", tamper(sealed(seal), header))
    assert status == 401 and code == "SIGNATURE_INVALID"
    assert core.seen == []


async def test_body_and_target_changes_fail(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    seal: IssuedCertificate,
    tmp_path: Path,
) -> None:
    """A changed body breaks the Digest; a changed target breaks a (request-target) signature."""
    gateway = await start(core.url, policies=policy_set(tmp_path, **{"require-request-target": True}))
    client = client_for(tpp)
    headers = sealed(seal, signed_headers=("(request-target)", "digest", "x-request-id", "psu-id", "date"))
    assert await post(client, f"{gateway.url}{TARGET}", headers, BODY.replace(b"123.50", b"923.50")) == (
        401,
        "SIGNATURE_INVALID",
    )
    other = "/v1/payments/instant-sepa-credit-transfers"
    assert (await post(client, f"{gateway.url}{other}", headers))[1] == "SIGNATURE_INVALID"
    assert core.seen == []


async def test_failure_classes_get_their_codes(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    seal: IssuedCertificate,
    pki: TestPki,
    tmp_path: Path,
) -> None:
    """Missing pieces, stale dates, unsigned mandatory headers, foreign seals: each its own code."""
    gateway = await start(core.url, policies=policy_set(tmp_path))
    client, url = client_for(tpp), f"{gateway.url}{TARGET}"
    good = sealed(seal)
    no_signature = {k: v for k, v in good.items() if k != "Signature"}
    no_certificate = {k: v for k, v in good.items() if k != "TPP-Signature-Certificate"}
    stale = sealed(seal, extra={"Date": email.utils.formatdate(time.time() - 3600, usegmt=True)})
    unsigned_psu = sealed(seal, signed_headers=("digest", "x-request-id", "date"))
    other_org = sealed(pki.qtsp.issue_qseal(organization_id="PSDBE-NBB-9999999999"))
    rogue = sealed(pki.rogue.issue_qseal())
    qwac_as_seal = sealed(pki.qtsp.issue_qwac(key_type="rsa2048"))
    cases = [
        (no_signature, 401, "SIGNATURE_MISSING"),
        (no_certificate, 401, "CERTIFICATE_MISSING"),
        (stale, 400, "TIMESTAMP_INVALID"),
        (unsigned_psu, 401, "SIGNATURE_INVALID"),
        (other_org, 401, "CERTIFICATE_INVALID"),
        (rogue, 401, "CERTIFICATE_INVALID"),
        (qwac_as_seal, 401, "CERTIFICATE_INVALID"),
    ]
    for headers, status, code in cases:
        assert await post(client, url, headers) == (status, code), code
    assert core.seen == []


async def test_profile_choices_for_disputed_codes(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    seal: IssuedCertificate,
    tmp_path: Path,
) -> None:
    """digest-code and missing-certificate-code follow the bank profile."""
    settings = {"digest-code": "FORMAT_ERROR", "missing-certificate-code": "FORMAT_ERROR"}
    gateway = await start(core.url, policies=policy_set(tmp_path, **settings))
    client, url = client_for(tpp), f"{gateway.url}{TARGET}"
    headers = sealed(seal)
    assert await post(client, url, headers, BODY + b" ") == (400, "FORMAT_ERROR")
    no_certificate = {k: v for k, v in headers.items() if k != "TPP-Signature-Certificate"}
    assert await post(client, url, no_certificate) == (400, "FORMAT_ERROR")


async def test_rfc9421_profile(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    seal: IssuedCertificate,
    tmp_path: Path,
) -> None:
    """RFC 9421 Signature-Input/Signature with Content-Digest verifies; a changed body does not."""
    gateway = await start(
        core.url, policies=policy_set(tmp_path, scheme="rfc9421", **{"require-request-target": True})
    )
    client, url = client_for(tpp), f"{gateway.url}{TARGET}"
    components = ("@method", "@target-uri", "content-digest", "x-request-id", "date", "psu-id")
    headers = sealed(
        seal, scheme="rfc9421", target=f"https://localhost:{gateway.port}{TARGET}", signed_headers=components
    )
    headers["Host"] = f"localhost:{gateway.port}"
    assert await post(client, url, headers) == (200, "")
    assert (await post(client, url, headers, BODY + b"x"))[0] == 401
