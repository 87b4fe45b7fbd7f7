"""Fixtures that run the real gateway in-process over real TLS on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import RunningGateway, start_gateway
from gateway.settings import (
    ListenSettings,
    MetricsSettings,
    Settings,
    StoreSettings,
    TlsSettings,
    UpstreamSettings,
    load_settings,
)
from support.cores import RecordingCore
from support.pki import Pem, TestPki

REPO = Path(__file__).resolve().parents[2]
BERLIN_GROUP = REPO / "policies" / "berlin-group"

StartGateway = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tpp(pki: TestPki) -> Pem:
    """The default TPP: a QWAC with all four PSD2 roles from the trusted QTSP."""
    return pki.qwac()


def gateway_settings(pki: TestPki, upstream_url: str, **changes: Any) -> Settings:
    base = load_settings(None, environ={})
    return replace(
        base,
        listen=ListenSettings(host="127.0.0.1", port=0),
        metrics=MetricsSettings(host="127.0.0.1", port=0),
        tls=changes.pop("tls", None)
        or TlsSettings(cert=pki.server.cert, key=pki.server.key, client_ca=pki.trust_bundle),
        upstream=changes.pop("upstream", None) or UpstreamSettings(url=upstream_url),
        store=changes.pop("store", None) or StoreSettings(url="memory://"),
        policies=changes.pop("policies", BERLIN_GROUP),
        **changes,
    )


@pytest.fixture
async def start(pki: TestPki) -> AsyncIterator[StartGateway]:
    """``await start(upstream_url, **settings_changes)`` -> a running gateway, closed after the test."""
    running: list[RunningGateway] = []

    async def _start(upstream_url: str = "builtin:sandbox", **changes: Any) -> RunningGateway:
        clock = changes.pop("clock", None)
        extra = {"clock": clock} if clock else {}
        gateway = await start_gateway(gateway_settings(pki, upstream_url, **changes), **extra)
        running.append(gateway)
        return gateway

    yield _start
    for gateway in running:
        await gateway.close()


@pytest.fixture
async def core() -> AsyncIterator[RecordingCore]:
    recording = await RecordingCore().start()
    yield recording
    await recording.close()


@pytest.fixture
async def client_for(pki: TestPki) -> AsyncIterator[Callable[[Pem | None], aiohttp.ClientSession]]:
    """``client_for(qwac)`` -> an aiohttp session presenting that certificate (None: none)."""
    sessions: list[aiohttp.ClientSession] = []

    def _client(qwac: Pem | None) -> aiohttp.ClientSession:
        ctx: ssl.SSLContext = pki.client_context(qwac)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx))
        sessions.append(session)
        return session

    yield _client
    for session in sessions:
        await session.close()
