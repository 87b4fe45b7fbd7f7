"""Canaries planted in every sensitive place never show up in logs, metrics or error bodies."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.pki import Pem, TestPki
from support.process import GatewayProcess

pytestmark = pytest.mark.resilience

CANARY = "CANARY7f3a"


def planted(request_id: str) -> dict[str, str]:
    return {
        "X-Request-ID": request_id,
        "Authorization": f"Bearer eyJ{CANARY}token",
        "Cookie": f"session={CANARY}cookie",
        "PSU-ID": f"{CANARY}-psu",
        "PSU-Corporate-ID": f"{CANARY}-corp",
        "Consent-ID": f"{CANARY}-consent",
        "PSU-IP-Address": "192.0.2.7",
        "TPP-Signature-Certificate": f"{CANARY}cert",
        "X-Custom": f"{CANARY}-custom",
    }


async def test_no_canary_in_logs_metrics_or_error_bodies(
    core: RecordingCore, client_for: Any, pki: TestPki, tpp: Pem, tmp_path: Path
) -> None:
    """Headers, tokens, cookies, path, query and body values stay out of everything the gateway writes."""
    gateway = GatewayProcess(tmp_path, pki, core.url, **{"log-level": "info", "log-hash-key": "k"}).start()
    try:
        client = client_for(tpp)
        path = f"/v1/accounts/BE71{CANARY}/transactions?iban=BE71{CANARY}&dateFrom=2025-01-01"
        error_bodies: list[str] = []
        for request_id, body in (
            (str(uuid.uuid4()), None),
            (f"{CANARY}-not-a-uuid", None),
            (str(uuid.uuid4()), f'{{"x":"{CANARY}"}}'),
        ):
            method = "GET" if body is None else "POST"
            target = path if body is None else f"/v1/payments/sepa-{CANARY}"
            async with client.request(
                method, f"{gateway.url}{target}", headers=planted(request_id), data=body
            ) as r:
                text = await r.text()
                if r.status >= 400:
                    error_bodies.append(text)
        async with (
            aiohttp.ClientSession() as plain,
            plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
        ):
            scrape = await r.text()
    finally:
        gateway.stop()
    logs = gateway.log_path.read_text()
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    requests = [e for e in events if e.get("event") == "request"]
    assert len(requests) == 3 and error_bodies
    assert all(e["consent"] and e["psu"] for e in requests), "keyed hashes stand in for the identifiers"
    for where, text in (("logs", logs), ("metrics", scrape), *(("error body", b) for b in error_bodies)):
        assert CANARY not in text, f"canary leaked into {where}"
