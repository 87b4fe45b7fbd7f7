"""Sandbox mode: relaxed certificate and token checks, mandatory parameters kept, sandbox core only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem

from gateway.settings import SandboxSettings


def policies(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**json.loads(ECAlgorithm.to_jwk(key)), "kid": "k1"}]}))
    (tmp_path / "routes.yaml").write_text(
        "defaults:\n  policies: [request-id]\n"
        "routes:\n  - name: accounts\n    service: AIS\n    path: /v1/accounts/**\n    policies:\n"
        "      - tpp-role: {any-of: [PSP_AI]}\n"
        f"      - oauth2-token: {{issuer: https://as.example, audience: gw, jwks-file: {jwks}}}\n"
    )
    return tmp_path


async def test_sandbox_mode_relaxes_certificates_and_tokens(
    start: StartGateway, core: RecordingCore, pki: Any, tmp_path: Path
) -> None:
    """No certificate or token needed, X-Request-ID still is; the sandbox core answers, not the configured."""
    gateway = await start(core.url, policies=policies(tmp_path), sandbox=SandboxSettings(enabled=True))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=pki.client_context(None))) as client:
        url = f"{gateway.url}/v1/accounts"
        async with client.get(url, headers={"X-Request-ID": str(uuid.uuid4()), "Consent-ID": "nope"}) as r:
            body = await r.json()
            assert r.status == 403 and body["tppMessages"][0]["code"] == "CONSENT_UNKNOWN", "the sandbox core"
        async with client.get(url) as r:
            assert r.status == 400 and (await r.json())["tppMessages"][0]["code"] == "FORMAT_ERROR"
    assert core.seen == [], "in sandbox mode nothing goes to a configured core"
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        assert "psd2gw_sandbox_mode 1.0" in await r.text()


async def test_without_sandbox_mode_the_token_is_required(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, tmp_path: Path
) -> None:
    """The same policy set outside sandbox mode wants a bearer token."""
    gateway = await start(core.url, policies=policies(tmp_path))
    headers = {"X-Request-ID": str(uuid.uuid4())}
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts", headers=headers) as r:
        assert r.status == 401 and (await r.json())["tppMessages"][0]["code"] == "TOKEN_INVALID"
