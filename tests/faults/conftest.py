"""Fixtures of the fault and scale tests: gateway processes stopped after the test, a private Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import SpawnGateways
from support.pki import TestPki
from support.process import GatewayProcess
from support.redis_server import RedisServer


@pytest.fixture
def gateways(pki: TestPki, tmp_path: Path) -> Iterator[SpawnGateways]:
    """``await gateways(n, upstream_url, **settings)`` -> ``n`` started gateway processes.

    Each process gets its own directory (config and log); all start concurrently; all stop
    (SIGTERM, then SIGKILL after 15 s) after the test.
    """
    started: list[GatewayProcess] = []

    async def spawn(count: int, upstream_url: str, **settings: Any) -> list[GatewayProcess]:
        made = []
        for _ in range(count):
            directory = tmp_path / f"gw-{len(started) + len(made)}"
            directory.mkdir()
            made.append(GatewayProcess(directory, pki, upstream_url, **{"log-level": "info", **settings}))
        started.extend(made)
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in made))
        return made

    yield spawn
    for process in started:
        process.stop()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, free to be killed, frozen and restarted."""
    server = RedisServer().start()
    yield server
    server.close()
