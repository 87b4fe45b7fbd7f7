"""Pytest fixtures: one real Redis per session, a clean database per test, a store per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from gateway.store import MemoryStore, RedisStore, Store, open_store
from support.redis_server import RedisCluster, RedisServer

# Generous: the contract tests check semantics; the fault tests set their own budget.
BUDGET_MS = 1000


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis-compatible server for the whole session."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, with an empty database (FLUSHALL before the test)."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Three masters in one cluster; started only when a test asks for it."""
    cluster = RedisCluster().start()
    yield cluster
    cluster.close()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each backend in turn, empty, closed after the test."""
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    else:
        backend = open_store(request.getfixturevalue("redis_url"), budget_ms=BUDGET_MS)
        assert isinstance(backend, RedisStore)
    yield backend
    await backend.close()
