"""TPP identity end to end: certificates made at test time, through the real server, both modes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.eidas.oids import Role
from gateway.settings import IdentityJwtSettings, IdentitySettings, IngressSettings, TlsSettings

NOW = dt.datetime.now(dt.UTC)
ACCOUNTS = "/v1/accounts/acc-1/balances"
PAYMENTS = "/v1/payments/sepa-credit-transfers"
FUNDS = "/v1/funds-confirmations"


def rid() -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4())}


async def call(client: aiohttp.ClientSession, url: str, method: str = "GET", **kw: Any) -> tuple[int, Any]:
    async with client.request(method, url, headers={**rid(), **kw.pop("headers", {})}, **kw) as r:
        body = await r.read()
        return r.status, json.loads(body) if body else None


def code_of(body: Any) -> str:
    return str(body["tppMessages"][0]["code"])


# (what, certificate fields, path, expected status, expected code or None for forwarded)
CERTIFICATE_CASES: list[tuple[str, dict[str, Any], str, int, str | None]] = [
    ("valid, all roles", {}, ACCOUNTS, 200, None),
    ("AISP reads accounts", {"roles": [Role.PSP_AI]}, ACCOUNTS, 200, None),
    ("AISP initiates a payment", {"roles": [Role.PSP_AI]}, PAYMENTS, 401, "ROLE_INVALID"),
    ("PISP initiates a payment", {"roles": [Role.PSP_PI]}, PAYMENTS, 200, None),
    ("PISP reads balances", {"roles": [Role.PSP_PI]}, ACCOUNTS, 401, "ROLE_INVALID"),
    ("PISP reads the account list", {"roles": [Role.PSP_PI]}, "/v1/accounts", 200, None),
    ("CBPII confirms funds", {"roles": [Role.PSP_IC]}, FUNDS, 200, None),
    ("AISP confirms funds", {"roles": [Role.PSP_AI]}, FUNDS, 401, "ROLE_INVALID"),
    ("ASPSP role only", {"roles": [Role.PSP_AS]}, ACCOUNTS, 401, "ROLE_INVALID"),
    ("no PSD2 statement", {"omit_psd2_statement": True}, ACCOUNTS, 401, "CERTIFICATE_INVALID"),
    ("no QcCompliance", {"omit_qc_compliance": True}, ACCOUNTS, 401, "CERTIFICATE_INVALID"),
    ("QcType eseal on a QWAC", {"qc_type": "eseal"}, ACCOUNTS, 401, "CERTIFICATE_INVALID"),
    (
        "bad organizationIdentifier",
        {"organization_id": "VATBE-0123456789"},
        ACCOUNTS,
        401,
        "CERTIFICATE_INVALID",
    ),
    ("NCA id mismatch", {"nca_id": "FR-ACPR"}, ACCOUNTS, 401, "CERTIFICATE_INVALID"),
    ("unwrapped QCStatements", {"psd2_encoding": "unwrapped"}, ACCOUNTS, 200, None),
    ("flattened role list", {"psd2_encoding": "flat-roles"}, ACCOUNTS, 200, None),
    ("PrintableString role names", {"psd2_encoding": "printable-names"}, ACCOUNTS, 200, None),
    ("serverAuth-only EKU", {"client_auth_eku": False}, ACCOUNTS, 200, None),
    (
        "expired",
        {"not_before": NOW - dt.timedelta(days=400), "not_after": NOW - dt.timedelta(days=1)},
        ACCOUNTS,
        401,
        "CERTIFICATE_EXPIRED",
    ),
    (
        "not yet valid",
        {"not_before": NOW + dt.timedelta(days=1), "not_after": NOW + dt.timedelta(days=400)},
        ACCOUNTS,
        401,
        "CERTIFICATE_INVALID",
    ),
]


@pytest.mark.parametrize(
    ("fields", "path", "status", "code"),
    [case[1:] for case in CERTIFICATE_CASES],
    ids=[case[0] for case in CERTIFICATE_CASES],
)
async def test_direct_tls_certificate_table(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    pki: TestPki,
    fields: dict[str, Any],
    path: str,
    status: int,
    code: str | None,
) -> None:
    """Each certificate gets exactly its status and code over mTLS; rejected ones never reach the core."""
    gateway = await start(core.url)
    method = "GET" if path.startswith("/v1/accounts") else "POST"
    got_status, body = await call(client_for(pki.qwac(**fields)), f"{gateway.url}{path}", method)
    assert got_status == status, body
    if code is None:
        assert len(core.seen) == 1
    else:
        assert code_of(body) == code
        assert core.seen == []


@pytest.mark.parametrize("encoding", ["unwrapped", "flat-roles", "printable-names"])
async def test_strict_mode_rejects_each_leniency(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, encoding: str
) -> None:
    """With identity.strict-qc-statements, malformed encodings are CERTIFICATE_INVALID."""
    gateway = await start(core.url, identity=IdentitySettings(strict_qc_statements=True))
    status, body = await call(client_for(pki.qwac(psd2_encoding=encoding)), f"{gateway.url}{ACCOUNTS}")
    assert (status, code_of(body)) == (401, "CERTIFICATE_INVALID")
    assert core.seen == []


async def test_client_auth_eku_required_when_configured(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki
) -> None:
    """require-client-auth-eku turns a serverAuth-only QWAC away."""
    gateway = await start(core.url, identity=IdentitySettings(require_client_auth_eku=True))
    status, body = await call(client_for(pki.qwac(client_auth_eku=False)), f"{gateway.url}{ACCOUNTS}")
    assert (status, code_of(body)) == (401, "CERTIFICATE_INVALID")


def write_registry(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tpp-registry.yaml"
    path.write_text(text)
    return path


async def test_registry_blocks_and_pending(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, tmp_path: Path
) -> None:
    """A blocked TPP and an unknown one (pending) get CERTIFICATE_BLOCKED; an active one passes."""
    registry = write_registry(
        tmp_path,
        "unknown-tpps: pending\ntpps:\n"
        "  PSDBE-NBB-1000000001: {status: active}\n"
        "  PSDBE-NBB-1000000002: {status: blocked}\n",
    )
    gateway = await start(core.url, identity=IdentitySettings(registry=registry))
    url = f"{gateway.url}{ACCOUNTS}"
    active = await call(client_for(pki.qwac(organization_id="PSDBE-NBB-1000000001")), url)
    blocked = await call(client_for(pki.qwac(organization_id="PSDBE-NBB-1000000002")), url)
    unknown = await call(client_for(pki.qwac(organization_id="PSDBE-NBB-1000000003")), url)
    assert active[0] == 200
    assert (blocked[0], code_of(blocked[1])) == (401, "CERTIFICATE_BLOCKED")
    assert (unknown[0], code_of(unknown[1])) == (401, "CERTIFICATE_BLOCKED")
    assert len(core.seen) == 1


async def test_registry_roles_are_intersected_with_the_certificate(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, tmp_path: Path
) -> None:
    """The NCA register's roles in the registry limit what the QWAC claims."""
    registry = write_registry(tmp_path, "tpps:\n  PSDBE-NBB-2000000001: {roles: [PSP_AI]}\n")
    gateway = await start(core.url, identity=IdentitySettings(registry=registry))
    client = client_for(pki.qwac(organization_id="PSDBE-NBB-2000000001"))
    assert (await call(client, f"{gateway.url}{ACCOUNTS}"))[0] == 200
    status, body = await call(client, f"{gateway.url}{PAYMENTS}", "POST")
    assert (status, code_of(body)) == (401, "ROLE_INVALID")
    assert core.seen[0].header("X-PSD2GW-TPP-Roles") == ["PSP_AI"]


async def test_pisp_may_only_create_the_combined_service_consent(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki
) -> None:
    """Seed 000: a PISP-only TPP gets ROLE_INVALID unless it asks for allAccounts with the indicator."""
    gateway = await start(core.url)
    client = client_for(pki.qwac(roles=[Role.PSP_PI]))
    url = f"{gateway.url}/v1/consents"
    wide = {"access": {"allPsd2": "allAccounts"}, "recurringIndicator": True}
    narrow = {"access": {"availableAccounts": "allAccounts"}, "combinedServiceIndicator": True}
    status, body = await call(client, url, "POST", json=wide)
    assert (status, code_of(body)) == (401, "ROLE_INVALID")
    assert (await call(client, url, "POST", json=narrow))[0] == 200
    assert len(core.seen) == 1


async def test_verified_identity_reaches_the_core_as_headers_and_jwt(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """The core gets the verified organizationIdentifier, roles, NCA, fingerprint and a signed JWT."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = tmp_path / "identity-jwt.test-key.pem"
    key_path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    settings = IdentitySettings(jwt=IdentityJwtSettings(enabled=True, key=key_path, audience="core"))
    gateway = await start(core.url, identity=settings)
    headers = {"X-PSD2GW-TPP-Identity": "forged", "X-PSD2GW-TPP-NCA-ID": "XX-FAKE"}
    assert (await call(client_for(tpp), f"{gateway.url}{ACCOUNTS}", headers=headers))[0] == 200
    (seen,) = core.seen
    assert seen.header("X-PSD2GW-TPP-Organization-ID") == ["PSDBE-NBB-0123456789"]
    assert seen.header("X-PSD2GW-TPP-NCA-ID") == ["BE-NBB"]
    assert len(seen.header("X-PSD2GW-TPP-Certificate-SHA256")[0]) == 64
    (token,) = seen.header("X-PSD2GW-TPP-Identity")
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience="core")
    assert claims["sub"] == "PSDBE-NBB-0123456789"
    assert set(claims["roles"]) == {"PSP_AI", "PSP_AS", "PSP_IC", "PSP_PI"}
    assert claims["exp"] - claims["iat"] == 60


async def test_expiring_qwac_gets_a_warning_in_the_response(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki
) -> None:
    """A QWAC expiring within the warning window adds a WARNING tppMessage to JSON answers."""
    gateway = await start(core.url)
    soon = pki.qwac(not_after=NOW + dt.timedelta(days=5))
    status, body = await call(client_for(soon), f"{gateway.url}{ACCOUNTS}")
    assert status == 200
    (warning,) = body["tppMessages"]
    assert warning["category"] == "WARNING" and "expires in 4 days" in warning["text"]
    status, body = await call(client_for(pki.qwac()), f"{gateway.url}{ACCOUNTS}")
    assert "tppMessages" not in body


def ingress_settings(trusted: list[str], fmt: str = "auto") -> dict[str, Any]:
    return {
        "identity": IdentitySettings(
            source="ingress",
            ingress=IngressSettings(header="X-SSL-Client-Cert", format=fmt, trusted_proxies=trusted),  # type: ignore[arg-type]
        ),
    }


def encodings(pem: bytes) -> dict[str, str]:
    from cryptography import x509

    leaf = x509.load_pem_x509_certificates(pem)[0]
    import base64

    return {
        "url-pem": quote(pem.decode()),
        "base64-der": base64.b64encode(leaf.public_bytes(Encoding.DER)).decode(),
        "pem": pem.decode().replace("\n", " "),
        "xfcc": f'By=spiffe://ingress;Hash=abc;Cert="{quote(pem.decode())}";Subject="CN=x"',
    }


@pytest.mark.parametrize("fmt", ["url-pem", "base64-der", "pem", "xfcc"])
async def test_ingress_mode_takes_the_certificate_from_a_trusted_proxy(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem, fmt: str
) -> None:
    """Behind an ingress, the forwarded certificate in each encoding identifies the TPP."""
    tls = TlsSettings(enabled=False, client_ca=pki.trust_bundle, require_client_cert=False)
    gateway = await start(core.url, tls=tls, **ingress_settings(["127.0.0.1/32"]))
    value = encodings(tpp.cert.read_bytes())[fmt]
    async with aiohttp.ClientSession() as client:
        status, _ = await call(client, f"{gateway.url}{ACCOUNTS}", headers={"X-SSL-Client-Cert": value})
    assert status == 200
    (seen,) = core.seen
    assert seen.header("X-SSL-Client-Cert") == [], "the certificate header is not forwarded"
    assert seen.header("X-PSD2GW-TPP-Organization-ID") == ["PSDBE-NBB-0123456789"]


INGRESS_FAILURES: list[tuple[str, list[str], str, int, str]] = [
    ("untrusted proxy", ["10.0.0.0/8"], "good", 401, "CERTIFICATE_MISSING"),
    ("no header", ["127.0.0.1/32"], "none", 401, "CERTIFICATE_MISSING"),
    ("garbage", ["127.0.0.1/32"], "garbage", 401, "CERTIFICATE_INVALID"),
    ("expired", ["127.0.0.1/32"], "expired", 401, "CERTIFICATE_EXPIRED"),
    ("untrusted CA", ["127.0.0.1/32"], "rogue", 401, "CERTIFICATE_INVALID"),
    ("wrong role", ["127.0.0.1/32"], "pisp", 401, "ROLE_INVALID"),
]


@pytest.mark.parametrize(
    ("trusted", "which", "status", "code"),
    [case[1:] for case in INGRESS_FAILURES],
    ids=[case[0] for case in INGRESS_FAILURES],
)
async def test_ingress_mode_failures_get_precise_errors(
    start: StartGateway,
    core: RecordingCore,
    pki: TestPki,
    tpp: Pem,
    trusted: list[str],
    which: str,
    status: int,
    code: str,
) -> None:
    """Every certificate failure behind an ingress has its precise JSON error and reaches no core."""
    tls = TlsSettings(enabled=False, client_ca=pki.trust_bundle, require_client_cert=False)
    gateway = await start(core.url, tls=tls, **ingress_settings(trusted))
    certificates = {
        "good": tpp,
        "expired": pki.qwac(not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)),
        "rogue": pki.qwac(ca=pki.rogue),
        "pisp": pki.qwac(roles=[Role.PSP_PI]),
    }
    headers: dict[str, str] = {}
    if which == "garbage":
        headers["X-SSL-Client-Cert"] = "-----BEGIN CERTIFICATE-----%0AAAAA%0A-----END CERTIFICATE-----"
    elif which in certificates:
        headers["X-SSL-Client-Cert"] = quote(certificates[which].cert.read_bytes().decode())
    async with aiohttp.ClientSession() as client:
        got, body = await call(client, f"{gateway.url}{ACCOUNTS}", headers=headers)
    assert (got, code_of(body)) == (status, code)
    assert core.seen == []
