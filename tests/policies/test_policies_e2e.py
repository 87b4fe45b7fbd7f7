"""oauth2-token and maintenance-window end to end: the real server over mTLS, a recording core."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from factories import AUDIENCE, ISSUER, Signer, bearer
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.app import RunningGateway
from gateway.policies.oauth2_token import certificate_thumbprint

# The gateway's clock: a fixed, whole second close to real time (the test QWACs are valid now).
NOW_S = int(time.time())


def clock() -> float:
    return float(NOW_S)


def iso(epoch_s: int) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="seconds")


def policy_set(directory: Path, signer: Signer) -> Path:
    directory.mkdir()
    (directory / "routes.yaml").write_text(
        "routes:\n"
        "  - name: ais-accounts\n"
        "    service: AIS\n"
        "    path: /v1/accounts/**\n"
        "    policies:\n"
        "      - oauth2-token:\n"
        f"          issuer: {ISSUER}\n"
        f"          audience: {AUDIENCE}\n"
        f"          jwks-file: {signer.jwks_file}\n"
        "  - name: pis-payments\n"
        "    service: PIS\n"
        "    path: /v1/payments/**\n"
        "    methods: [GET, POST]\n"
        "    policies:\n"
        "      - maintenance-window:\n"
        "          windows:\n"
        f"            - {{start: '{iso(NOW_S - 3600)}', end: '{iso(NOW_S + 7200)}', reason: Core upgrade.}}\n"
    )
    return directory


@pytest.fixture
async def gateway(start: StartGateway, core: RecordingCore, tmp_path: Path) -> tuple[RunningGateway, Signer]:
    signer = Signer(tmp_path)
    return await start(core.url, policies=policy_set(tmp_path / "policies", signer), clock=clock), signer


async def call(client: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, Any, Any]:
    async with client.get(url, headers=headers) as response:
        return response.status, response.headers, json.loads(await response.read() or b"null")


def der_of(pem: Pem) -> bytes:
    return x509.load_pem_x509_certificates(pem.cert.read_bytes())[0].public_bytes(Encoding.DER)


async def test_valid_token_reaches_the_core(
    gateway: tuple[RunningGateway, Signer], core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """A valid, certificate-bound token for the presenting QWAC is forwarded."""
    running, signer = gateway
    token = signer.token(NOW_S * 1000, cnf={"x5t#S256": certificate_thumbprint(der_of(tpp))})
    status, _, _ = await call(client_for(tpp), f"{running.url}/v1/accounts/acc-1/balances", bearer(token))
    assert status == 200
    assert len(core.seen) == 1


async def test_expired_token_never_reaches_the_core(
    gateway: tuple[RunningGateway, Signer], core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """An expired token: 401 TOKEN_EXPIRED with the RFC 6750 challenge, and the core sees nothing."""
    running, signer = gateway
    token = signer.token(NOW_S * 1000 - 7_200_000)
    status, headers, body = await call(
        client_for(tpp), f"{running.url}/v1/accounts/acc-1/balances", bearer(token)
    )
    assert (status, body["tppMessages"][0]["code"]) == (401, "TOKEN_EXPIRED")
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert core.seen == []


async def test_token_bound_to_another_certificate_is_rejected(
    gateway: tuple[RunningGateway, Signer], core: RecordingCore, client_for: Any, tpp: Pem, pki: TestPki
) -> None:
    """RFC 8705: a token bound to one QWAC is refused over a connection presenting another."""
    running, signer = gateway
    token = signer.token(NOW_S * 1000, cnf={"x5t#S256": certificate_thumbprint(der_of(tpp))})
    other = client_for(pki.qwac(organization_id="PSDBE-NBB-5000000001"))
    status, _, body = await call(other, f"{running.url}/v1/accounts/acc-1/balances", bearer(token))
    assert (status, body["tppMessages"][0]["code"]) == (401, "TOKEN_INVALID")
    assert core.seen == []


async def test_maintenance_window_answers_503_with_retry_after(
    gateway: tuple[RunningGateway, Signer], core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """Inside the window: 503 SERVICE_UNAVAILABLE, Retry-After to the second, nothing forwarded."""
    running, _ = gateway
    status, headers, body = await call(
        client_for(tpp), f"{running.url}/v1/payments/sepa-credit-transfers/p-1", {}
    )
    assert (status, body["tppMessages"][0]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert headers["Retry-After"] == "7200"
    assert body["tppMessages"][0]["text"].startswith("Planned maintenance until ")
    assert core.seen == []
