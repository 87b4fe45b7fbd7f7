"""The lean RESP client under the Redis store: multiplexed replies stay paired, failures stay bounded."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from support.pki import TestPki
from support.redis_server import RedisServer

from gateway.store import Op, Outcome, Quota, Read, RedisStore, StoreUnavailable, Write, key, open_store
from gateway.store import resp as resp_module
from gateway.store.resp import Address, NoScript, ReplyError, RespClient

BUDGET_MS = 50
MARGIN_S = 0.25  # a correctness bound (the call gives up near its budget), not a benchmark
ECHO = "return {KEYS[1], ARGV[1]}"


class PasswordServer(RedisServer):
    """A server started with ``--requirepass`` (its readiness check authenticates)."""

    def __init__(self, password: str) -> None:
        super().__init__("--requirepass", password)
        self.password = password

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of the test's own, free to be frozen."""
    s = RedisServer().start()
    yield s
    s.close()


@pytest.fixture
async def lean(redis_url: str) -> AsyncIterator[RespClient]:
    client = RespClient.from_url(redis_url, reply_timeout_s=1)
    yield client
    await client.aclose()


def lean_store(url: str, budget_ms: int = BUDGET_MS) -> RedisStore:
    store = open_store(url, budget_ms=budget_ms)
    assert isinstance(store, RedisStore) and isinstance(store._client, RespClient)
    return store


async def elapsed_failure(call: asyncio.Future[list[Outcome]]) -> float:
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await call
    return time.monotonic() - start


@pytest.mark.parametrize(
    ("url", "client"),
    [
        ("redis://127.0.0.1:1/0", RespClient),
        ("rediss://127.0.0.1:1/0?ssl_cert_reqs=none", RespClient),
        ("unix:///tmp/nowhere.sock?db=2", RespClient),
        ("redis://127.0.0.1:1/0?socket_keepalive=true", Redis),  # an option only redis-py has
        ("redis://127.0.0.1:1/0?protocol=3", Redis),
        ("redis+cluster://127.0.0.1:1", RedisCluster),
    ],
)
async def test_one_node_gets_the_lean_client_unless_the_url_asks_for_more(url: str, client: type) -> None:
    """The client is chosen from the URL alone: lean on one node, redis-py for Cluster and extras."""
    store = open_store(url)
    assert isinstance(store, RedisStore) and type(store._client) is client
    await store.close()


async def test_without_hiredis_redis_py_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hiredis: the same URL opens the redis-py client instead."""
    monkeypatch.setattr(resp_module, "hiredis", None)
    store = open_store("redis://127.0.0.1:1/0")
    assert isinstance(store, RedisStore) and isinstance(store._client, Redis)
    await store.close()


async def test_500_concurrent_mixed_batches_each_get_their_own_outcome(redis_url: str) -> None:
    """Writes, reads and quotas from 500 tasks share two connections; every outcome is the caller's."""
    store = lean_store(redis_url, budget_ms=2000)
    try:
        await asyncio.gather(*(store.run([Write(key(f"t{i}", "v"), f"value-{i}")], 0) for i in range(500)))

        def batch(i: int) -> list[Op]:
            read, quota = Read(key(f"t{i}", "v")), Quota(key(f"t{i}", "q"), i + 3, 60_000, cost=1 + i % 2)
            return [[read], [quota], [quota, read], [Write(key(f"t{i}", "w"), str(i)), quota]][i % 4]

        got = await asyncio.gather(*(store.run(batch(i), 1) for i in range(500)))
        for i, outcomes in enumerate(got):
            for op, outcome in zip(batch(i), outcomes, strict=True):
                if isinstance(op, Read):
                    assert outcome.value == f"value-{i}"
                elif isinstance(op, Quota):
                    assert (outcome.allowed, outcome.remaining) == (True, i + 3 - op.cost)
    finally:
        await store.close()


async def test_raw_evalsha_replies_stay_paired(lean: RespClient) -> None:
    """500 concurrent EVALSHA calls with distinct arguments each get their own reply."""
    sha = await lean.script_load(ECHO)
    got = await asyncio.gather(*(lean.evalsha(sha, 1, f"k{i}", i) for i in range(500)))
    assert got == [[f"k{i}".encode(), str(i).encode()] for i in range(500)]


async def test_frozen_server_fails_calls_in_flight_then_serves_fresh(server: RedisServer) -> None:
    """SIGSTOP with 100 calls in flight: all fail near the budget; after SIGCONT, replies are right."""
    store = lean_store(server.url)
    try:
        await store.run([Write(key(f"t{i}", "v"), str(i)) for i in range(100)], 0)
        server.freeze()
        try:
            calls = [asyncio.ensure_future(store.run([Read(key(f"t{i}", "v"))], 1)) for i in range(100)]
            waits = await asyncio.gather(*(elapsed_failure(c) for c in calls))
            assert max(waits) < BUDGET_MS / 1000 + MARGIN_S
        finally:
            server.thaw()
        got = await asyncio.gather(*(store.run([Read(key(f"t{i}", "v"))], 2) for i in range(100)))
        assert [o[0].value for o in got] == [str(i) for i in range(100)]
    finally:
        await store.close()


async def test_overdue_reply_drops_the_connection_without_an_outer_timeout(server: RedisServer) -> None:
    """The client's own watchdog fails a call nobody times out, and the next call reconnects."""
    client = RespClient.from_url(server.url, reply_timeout_s=BUDGET_MS / 1000)
    try:
        await client.ping()
        server.freeze()
        try:
            start = time.monotonic()
            with pytest.raises(StoreUnavailable, match="did not reply"):
                await client.ping()
            assert time.monotonic() - start < BUDGET_MS / 1000 + MARGIN_S
        finally:
            server.thaw()
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.parametrize("reply_timeout_s", [BUDGET_MS / 1000, 5.0])
async def test_store_budget_holds_whatever_the_clients_reply_timeout(
    server: RedisServer, reply_timeout_s: float
) -> None:
    """A store call on an open connection fails at the budget: by the connection's watchdog when
    its reply timeout is the budget, by the store's own timer when the client waits longer."""
    client = RespClient.from_url(server.url, reply_timeout_s=reply_timeout_s)
    store = RedisStore(client, budget_ms=BUDGET_MS)
    op = Quota(key("tpp1", "q"), 100, 60_000)
    try:
        await store.run([op], 0)  # warm: the script is loaded and the connections are open
        await store.run([op], 0)
        server.freeze()
        try:
            for _ in range(2):  # both connections
                assert await elapsed_failure(asyncio.ensure_future(store.run([op], 1))) < (
                    BUDGET_MS / 1000 + MARGIN_S
                )
        finally:
            server.thaw()
    finally:
        await store.close()


async def test_connection_closed_mid_reply_fails_calls_in_flight_at_once() -> None:
    """A server that sends half a reply and hangs up fails every pending call; the next one reconnects."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            await reader.read(1024)
            writer.write(b"*2\r\n:1\r\n$5\r\nhal")
            await writer.drain()
            writer.close()
            return
        while data := await reader.read(1024):
            writer.write(b"+PONG\r\n" * data.count(b"PING"))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RespClient(Address(port=port, host="127.0.0.1"), connections=1, reply_timeout_s=5)
    try:
        start = time.monotonic()
        got = await asyncio.gather(*(client.evalsha("0" * 40, 0) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(e, StoreUnavailable) for e in got), got
        assert time.monotonic() - start < 1
        assert await client.ping()
        assert connections == 2
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_rediss_verifies_the_server_certificate(tmp_path: Path) -> None:
    """``rediss://`` speaks TLS, trusting ``ssl_ca_certs``; an unknown CA fails as StoreUnavailable."""
    pki = TestPki.create(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.server.cert, pki.server.key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(b"+PONG\r\n" * data.count(b"PING"))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    url = f"rediss://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    trusting = RespClient.from_url(url, ssl_ca_certs=str(pki.trust_bundle), connect_timeout_s=2)
    strict = RespClient.from_url(url, connect_timeout_s=2)
    try:
        assert await trusting.ping()
        with pytest.raises(StoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await strict.ping()
    finally:
        await trusting.aclose()
        await strict.aclose()
        server.close()
        await server.wait_closed()


async def test_auth_and_select_come_from_the_url() -> None:
    """``redis://[user]:password@host/db``: AUTH (default or ACL user) and SELECT before any call."""
    server = PasswordServer("s3cret").start()
    try:
        with server.client() as admin:
            admin.execute_command("ACL", "SETUSER", "gw", "on", ">gw-pass", "~*", "+@all")  # type: ignore[no-untyped-call]
        for url, db in [
            (f"redis://:s3cret@127.0.0.1:{server.port}/3", 3),
            (f"redis://gw:gw-pass@127.0.0.1:{server.port}/5", 5),
        ]:
            store = lean_store(url, budget_ms=1000)
            try:
                await store.run([Write(key("tpp", "w"), "x")], 0)
            finally:
                await store.close()
            with redis.Redis(port=server.port, password="s3cret", db=db) as check:
                assert check.exists(key("tpp", "w"))
        wrong = lean_store(f"redis://:nope@127.0.0.1:{server.port}/0", budget_ms=1000)
        try:
            with pytest.raises(StoreUnavailable, match="WRONGPASS") as e:
                await wrong.ping()
            assert "nope" not in str(e.value)
        finally:
            await wrong.close()
    finally:
        server.close()


async def test_unix_socket_url(tmp_path: Path) -> None:
    """``unix:///path?db=1`` connects over the socket and selects the database."""
    sock = tmp_path / "redis.sock"
    server = RedisServer("--unixsocket", str(sock)).start()
    try:
        store = lean_store(f"unix://{sock}?db=1", budget_ms=1000)
        try:
            assert (await store.run([Quota(key("tpp", "q"), 2, 1000)], 0))[0].remaining == 1
        finally:
            await store.close()
        with redis.Redis(port=server.port, db=1) as check:
            assert check.exists(key("tpp", "q"))
    finally:
        server.close()


async def test_error_replies_fail_their_call_only(redis_url: str, lean: RespClient) -> None:
    """-ERR and -WRONGTYPE become StoreUnavailable for that call; the connection keeps serving."""
    with pytest.raises(NoScript):
        await lean.evalsha("0" * 40, 0)
    sha = await lean.script_load("return redis.error_reply('ERR boom')")
    failing, ok = lean.evalsha(sha, 0), lean.ping()
    with pytest.raises(ReplyError, match="boom"):
        await failing
    assert await ok
    with redis.Redis.from_url(redis_url) as client:
        client.set(key("tpp", "q"), "not a sorted set")
    store = lean_store(redis_url, budget_ms=1000)
    try:
        with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
            await store.run([Quota(key("tpp", "q"), 2, 1000)], 0)
        assert (await store.run([Quota(key("tpp", "other"), 2, 1000)], 0))[0].allowed
    finally:
        await store.close()
