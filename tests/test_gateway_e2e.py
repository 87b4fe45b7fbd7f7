"""End to end: a TPP over real mTLS -> the gateway -> a core on a real socket."""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from typing import Any

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.settings import UpstreamSettings


def rid() -> dict[str, str]:
    return {"X-Request-ID": str(uuid.uuid4())}


async def bg_error(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(await response.read())
    assert set(body) == {"tppMessages"}
    (message,) = body["tppMessages"]
    assert message["category"] == "ERROR"
    assert isinstance(message["text"], str) and message["text"]
    return dict(message)


async def raw_exchange(port: int, ctx: ssl.SSLContext, request: bytes) -> bytes:
    """Send raw request bytes over TLS; return everything the gateway answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    writer.write(request)
    await writer.drain()
    data = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                data += chunk
    finally:
        writer.close()
    return data


async def test_forwards_an_authorised_request_and_echoes_the_request_id(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """A TPP with a trusted QWAC reaches the core over mTLS and gets its X-Request-ID back."""
    gateway = await start(core.url)
    headers = rid()
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts?withBalance=true", headers=headers) as r:
        assert r.status == 200
        assert r.headers["X-Request-ID"] == headers["X-Request-ID"]
        assert (await r.json())["target"] == "/v1/accounts?withBalance=true"
    (seen,) = core.seen
    assert seen.request_line == "GET /v1/accounts?withBalance=true HTTP/1.1"
    assert seen.header("X-Request-ID") == [headers["X-Request-ID"]]
    assert seen.header("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header("X-Forwarded-Proto") == ["https"]


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("no certificate", "PEER_DID_NOT_RETURN_A_CERTIFICATE"),
        ("untrusted QTSP", "CERTIFICATE_VERIFY_FAILED"),
    ],
)
async def test_handshake_fails_without_a_trusted_client_certificate(
    start: StartGateway, core: RecordingCore, client_for: Any, pki: TestPki, who: str, reason: str
) -> None:
    """No client certificate, or one from an untrusted CA, never reaches the core; counted by reason."""
    gateway = await start(core.url)
    qwac = None if who == "no certificate" else pki.qwac(ca=pki.rogue)
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        async with client_for(qwac).get(f"{gateway.url}/v1/accounts", headers=rid()) as r:
            await r.read()
    assert core.seen == []
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        scrape = await r.text()
    assert f'psd2gw_tls_handshake_failures_total{{reason="{reason}"}}' in scrape


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "missing"),
        ({"X-Request-ID": "not-a-uuid"}, "UUID"),
        ({"X-Request-ID": "1234"}, "UUID"),
    ],
)
async def test_request_id_must_be_a_uuid(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, headers: dict[str, str], problem: str
) -> None:
    """A missing or malformed X-Request-ID is a 400 FORMAT_ERROR in the Berlin Group body."""
    gateway = await start(core.url)
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts", headers=headers) as r:
        assert r.status == 400
        message = await bg_error(r)
    assert message["code"] == "FORMAT_ERROR"
    assert "X-Request-ID" in message["text"] and problem in message["text"]
    assert core.seen == []


async def test_core_down_is_502_with_a_berlin_group_body(
    start: StartGateway, client_for: Any, tpp: Pem
) -> None:
    """When nothing listens at the core's address the TPP gets 502, not a stack trace."""
    idle = await RecordingCore().start()
    await idle.close()
    gateway = await start(idle.url)
    headers = rid()
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts", headers=headers) as r:
        assert r.status == 502
        assert r.headers["X-Request-ID"] == headers["X-Request-ID"]
        assert (await bg_error(r))["code"] == "BAD_GATEWAY"


async def test_slow_core_is_504_with_a_berlin_group_body(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """A core slower than the total timeout gives 504 GATEWAY_TIMEOUT."""
    core.delay_s = 2.0
    gateway = await start(
        core.url, upstream=UpstreamSettings(url=core.url, connect_timeout_s=0.2, total_timeout_s=0.3)
    )
    async with client_for(tpp).post(f"{gateway.url}/v1/payments/sepa-credit-transfers", headers=rid()) as r:
        assert r.status == 504
        assert (await bg_error(r))["code"] == "GATEWAY_TIMEOUT"
    assert len(core.seen) == 1, "a non-idempotent request is never retried"


@pytest.mark.parametrize(
    "request_line",
    [
        "GET https://evil.example/v1/accounts?x=1 HTTP/1.1",
        "GET http://127.0.0.1:1/v1/accounts?x=1 HTTP/1.1",
        "GET /v1/accounts?x=1 HTTP/1.1",
    ],
)
async def test_absolute_form_target_and_odd_host_do_not_change_the_upstream(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem, request_line: str
) -> None:
    """Only the path and query of the target reach the configured core; Host is not forwarded."""
    gateway = await start(core.url)
    request = (
        f"{request_line}\r\nHost: internal-admin.bank.local:9999\r\n"
        f"X-Request-ID: {uuid.uuid4()}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = await raw_exchange(gateway.port, pki.client_context(tpp), request)
    assert answer.startswith(b"HTTP/1.1 200")
    (seen,) = core.seen
    assert seen.target == "/v1/accounts?x=1"
    assert seen.header("Host") == [f"127.0.0.1:{core.port}"]


async def test_chunked_request_reaches_the_core_well_framed(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """A chunked body arrives at the core with one Content-Length and no Transfer-Encoding."""
    gateway = await start(core.url)
    body = b'{"instructedAmount":{"currency":"EUR","amount":"12.30"}}'
    chunked = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    request = (
        "POST /v1/payments/sepa-credit-transfers HTTP/1.1\r\nHost: localhost\r\n"
        f"X-Request-ID: {uuid.uuid4()}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode() + chunked
    answer = await raw_exchange(gateway.port, pki.client_context(tpp), request)
    assert answer.startswith(b"HTTP/1.1 200")
    (seen,) = core.seen
    assert seen.header("Transfer-Encoding") == []
    assert seen.header("Content-Length") == [str(len(body))]
    assert seen.body == body


async def test_hop_by_hop_and_gateway_owned_headers_never_reach_the_core(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """Connection-named, hop-by-hop, forwarding and gateway-owned headers are stripped."""
    gateway = await start(core.url)
    spoofed = {
        **rid(),
        "Connection": "keep-alive, X-Private-Hop",
        "X-Private-Hop": "secret",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Forwarded-For": "10.9.9.9",
        "X-Forwarded-Host": "admin.internal",
        "Forwarded": "for=10.9.9.9",
        "X-PSD2GW-TPP-Organization-ID": "PSDBE-NBB-SPOOFED",
        "x_psd2gw_tpp_roles": "PSP_AS",
        "X-Kept": "yes",
    }
    async with client_for(tpp).get(f"{gateway.url}/v1/accounts", headers=spoofed) as r:
        assert r.status == 200
    (seen,) = core.seen
    names = {k.lower() for k, _ in seen.headers}
    for stripped in (
        "x-private-hop",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "x-forwarded-host",
        "forwarded",
        "x_psd2gw_tpp_roles",
    ):
        assert stripped not in names
    assert seen.header("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header("X-PSD2GW-TPP-Organization-ID") == ["PSDBE-NBB-0123456789"], "the verified id only"
    assert seen.header("X-PSD2GW-TPP-Roles") == ["PSP_AI,PSP_AS,PSP_IC,PSP_PI"]
    assert seen.header("X-Kept") == ["yes"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/../consents",
        "/v1/accounts/%2e%2e/x",
        "/v1//accounts",
        "/v1/accounts%2Fx",
        "/v1/./accounts",
    ],
)
async def test_ambiguous_paths_are_refused_before_routing(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem, path: str
) -> None:
    """Dot segments, empty segments and encoded slashes are a 400, never forwarded."""
    gateway = await start(core.url)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: {uuid.uuid4()}\r\nConnection: close\r\n\r\n"
    )
    answer = await raw_exchange(gateway.port, pki.client_context(tpp), request.encode())
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"code":"FORMAT_ERROR"' in answer
    assert core.seen == []


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/admin", 404, "RESOURCE_UNKNOWN"),
        ("DELETE", "/v1/accounts/abc", 405, "SERVICE_INVALID"),
    ],
)
async def test_unknown_routes_never_reach_the_core(
    start: StartGateway,
    core: RecordingCore,
    client_for: Any,
    tpp: Pem,
    method: str,
    path: str,
    status: int,
    code: str,
) -> None:
    """Only routes of the policy set are served."""
    gateway = await start(core.url)
    async with client_for(tpp).request(method, f"{gateway.url}{path}", headers=rid()) as r:
        assert r.status == status
        assert (await bg_error(r))["code"] == code
    assert core.seen == []


async def test_encoded_and_oversized_bodies_are_refused(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """A Content-Encoding gives 415 and a body over the limit 413, neither forwarded."""
    gateway = await start(core.url, max_body_bytes=1024)
    url = f"{gateway.url}/v1/payments/sepa-credit-transfers"
    client = client_for(tpp)
    async with client.post(url, data=b"x" * 10, headers={**rid(), "Content-Encoding": "gzip"}) as r:
        assert r.status == 415
    async with client.post(url, data=b"x" * 2048, headers=rid()) as r:
        assert r.status == 413
        assert (await bg_error(r))["code"] == "FORMAT_ERROR"
    assert core.seen == []


async def test_metrics_count_forwarded_and_rejected_requests(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem
) -> None:
    """/metrics on the operator listener counts outcomes by route and status."""
    gateway = await start(core.url)
    client = client_for(tpp)
    async with client.get(f"{gateway.url}/v1/accounts", headers=rid()) as r:
        assert r.status == 200
    async with client.get(f"{gateway.url}/v1/accounts") as r:
        assert r.status == 400
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r,
    ):
        text = await r.text()
    forwarded = (
        'method="GET",outcome="forwarded",profile="berlin-group",'
        'route="ais-account-list",service="AIS",status="200"'
    )
    assert f"psd2gw_requests_total{{{forwarded}}} 1.0" in text
    assert 'psd2gw_policy_rejections_total{code="FORMAT_ERROR",mode="enforce",rule="request-id"} 1.0' in text
