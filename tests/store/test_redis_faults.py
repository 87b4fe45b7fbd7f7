"""The Redis store against a frozen, killed and restarted server: bounded failures, then recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Iterator

import pytest
import redis
from support.redis_server import RedisServer

from gateway.store import Quota, RedisStore, StoreUnavailable, key, open_store

BUDGET_MS = 50
# A correctness bound (the call gives up near its budget), not a benchmark.
MARGIN_S = 0.25
OP = Quota(key("tpp1", "q"), 100, 60_000)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of the test's own, free to be frozen or killed."""
    s = RedisServer().start()
    yield s
    s.close()


@pytest.fixture
async def faulty(server: RedisServer) -> AsyncIterator[RedisStore]:
    store = open_store(server.url, budget_ms=BUDGET_MS)
    assert isinstance(store, RedisStore)
    await store.run([OP], 0)  # warm: the pool holds a live connection
    yield store
    await store.close()


async def elapsed_failure(call: Awaitable[object]) -> float:
    """Seconds until ``call`` raised StoreUnavailable."""
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await call
    return time.monotonic() - start


async def test_frozen_server_fails_within_budget_then_recovers(
    server: RedisServer, faulty: RedisStore
) -> None:
    """SIGSTOP: run and ping give up near the budget; after SIGCONT no stale reply is read."""
    server.freeze()
    try:
        assert await elapsed_failure(faulty.run([OP], 1)) < BUDGET_MS / 1000 + MARGIN_S
        assert await elapsed_failure(faulty.ping()) < BUDGET_MS / 1000 + MARGIN_S
    finally:
        server.thaw()
    got = await faulty.run([OP, Quota(key("tpp1", "other"), 5, 1000)], 2)
    # The frozen call may have run after SIGCONT (it sat in the socket buffer): 97 or 98.
    assert got[0].allowed and got[0].remaining in (97, 98)
    assert (got[1].allowed, got[1].remaining) == (True, 4)


async def test_killed_server_fails_fast(server: RedisServer, faulty: RedisStore) -> None:
    """SIGKILL: refused connections become StoreUnavailable at once."""
    server.kill()
    assert await elapsed_failure(faulty.run([OP], 1)) < BUDGET_MS / 1000 + MARGIN_S
    assert await elapsed_failure(faulty.ping()) < BUDGET_MS / 1000 + MARGIN_S


async def test_restarted_server_serves_again(server: RedisServer, faulty: RedisStore) -> None:
    """After a restart (empty, no script cached) calls succeed again within 2 s."""
    server.kill()
    with pytest.raises(StoreUnavailable):
        await faulty.run([OP], 1)
    server.restart()
    deadline = time.monotonic() + 2
    while True:
        try:
            got = await faulty.run([OP], 2)
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "store did not recover within 2 s"
            await asyncio.sleep(0.05)
    assert (got[0].allowed, got[0].remaining) == (True, 99)


async def test_flushed_script_cache_is_reloaded(server: RedisServer, faulty: RedisStore) -> None:
    """NOSCRIPT (SCRIPT FLUSH, failover) falls back to EVAL, which caches the script again."""
    with redis.Redis(port=server.port) as client:
        client.script_flush()
    assert (await faulty.run([OP], 1))[0].remaining == 98
    assert (await faulty.run([OP], 2))[0].remaining == 97


async def test_unreachable_url_fails_within_budget() -> None:
    """Nothing listens: the first call fails within the budget, open_store itself does not connect."""
    store = open_store(f"redis://127.0.0.1:{RedisServer().port}", budget_ms=BUDGET_MS)
    try:
        assert await elapsed_failure(store.run([OP], 0)) < BUDGET_MS / 1000 + MARGIN_S
    finally:
        await store.close()
