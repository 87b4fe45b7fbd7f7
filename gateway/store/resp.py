"""A lean asyncio RESP2 client for the store's hot path on one Redis node.

Why beside redis-py: every request makes one ``EVALSHA``, and profiling the gateway showed
redis-py's per-call machinery (pool get/release, ``execute_command``, ``Retry.call_with_retry``,
``pack_command``, ``Encoder``) at about 5% of the gateway's CPU per request. Here a call is:
pick a connection (round robin), ``hiredis.pack_command``, append a future to a deque; the
commands of one event-loop tick leave in one ``transport.write``, and ``hiredis.Reader`` parses
the replies, which Redis sends in command order, so each resolves the oldest future. Each of a
few connections carries any number of concurrent calls.

Why so small: it speaks only what the store sends (``EVALSHA``, ``SCRIPT LOAD``, ``PING``,
``AUTH``, ``SELECT``) to one node in RESP2; Cluster, and any URL option beyond host, database,
credentials and TLS, stay with redis-py (``Unsupported``). URLs and TLS contexts are parsed by
redis-py's own code, so both paths read a URL alike.

Failures are ``StoreUnavailable``: a refused or slow connect (bounded by ``connect_timeout_s``),
a lost connection, or a reply overdue by ``reply_timeout_s`` fail every call in flight on that
connection, which is then dropped (a late reply would answer the wrong call) and opened again
by the next call. An error reply fails its call only: ``NoScript`` or ``ReplyError``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from redis.asyncio.connection import RedisSSLContext, SSLConnection, parse_url

from gateway.store.base import StoreUnavailable

try:
    import hiredis
except ImportError:  # pragma: no cover - installed with redis[hiredis]; without it redis-py serves
    hiredis = None  # type: ignore[assignment]


def _pack(*args: str | int) -> bytes:
    # (hiredis's stub types the argument as a 1-tuple.)
    return hiredis.pack_command(args)  # type: ignore[arg-type, no-any-return]


CONNECTIONS = 2
_URL_PARTS = frozenset({"host", "port", "db", "username", "password", "path", "connection_class"})
_TLS_OPTIONS = frozenset(
    {"ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_ca_path"}
    | {"ssl_check_hostname", "ssl_min_version", "ssl_ciphers", "ssl_password"}
    | {"ssl_include_verify_flags", "ssl_exclude_verify_flags"}
)
# Watchdog timers may fire up to the loop's clock resolution early.
_EARLY_S = 0.001


class Unsupported(ValueError):
    """The URL or an option asks for more than this client does: use redis-py."""


class ReplyError(StoreUnavailable):
    """Redis answered a command with an error (``-ERR ...``)."""


class NoScript(ReplyError):
    """``-NOSCRIPT``: the script is not in the server's cache (restart, flush, failover)."""


def _reply_error(message: str) -> ReplyError:
    return NoScript(message) if message.startswith("NOSCRIPT") else ReplyError(message)


@dataclass(frozen=True, slots=True)
class Address:
    """Where and how to connect: TCP (``tls`` for ``rediss://``) or a unix socket (``path``)."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    tls: ssl.SSLContext | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int = 0

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Address:
        """``redis://``, ``rediss://`` or ``unix://``; ``Unsupported`` for anything else."""
        try:
            parts = {**parse_url(url), **options}
        except ValueError as e:
            raise Unsupported(str(e)) from e
        extra = set(parts) - _URL_PARTS - _TLS_OPTIONS
        if extra:
            raise Unsupported(f"options {sorted(extra)}")
        tls_options = {k.removeprefix("ssl_"): v for k, v in parts.items() if k in _TLS_OPTIONS}
        tls = None
        if parts.get("connection_class") is SSLConnection:
            # redis-py's SSLConnection defaults: verify the certificate and the host name.
            tls = RedisSSLContext(**{"cert_reqs": "required", "check_hostname": True, **tls_options}).get()
        elif tls_options:
            raise Unsupported("TLS options without rediss://")
        return cls(
            host=parts.get("host", "localhost"),
            port=parts.get("port", 6379),
            path=parts.get("path"),
            tls=tls,
            username=parts.get("username"),
            password=parts.get("password"),
            db=parts.get("db", 0),
        )


class _Connection(asyncio.Protocol):
    """One socket; replies come in command order, so each resolves the oldest pending future."""

    def __init__(self, reply_timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader(replyError=_reply_error)
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reply_timeout_s = reply_timeout_s
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.open = True

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                future = self._pending.popleft()[0]
                if future.done():  # its caller gave up; the reply is still this command's
                    continue
                if isinstance(reply, ReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as e:
            self.abort(f"redis sent an unreadable or unexpected reply: {e!r}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"redis connection lost: {exc!r}" if exc else "redis closed the connection")

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue ``command``; it leaves with the other commands of this loop tick."""
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(command)
        future = self._loop.create_future()
        deadline = self._loop.time() + self._reply_timeout_s
        self._pending.append((future, deadline))
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._watch)
        return future

    def abort(self, reason: str) -> None:
        if self._transport is not None:
            self._transport.abort()  # type: ignore[attr-defined]
        self._fail(reason)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._fail("redis client closed")

    def _flush(self) -> None:
        if self.open:
            self._transport.writelines(self._out)  # type: ignore[union-attr]
        self._out.clear()

    def _watch(self) -> None:
        """The oldest call's reply is overdue: the connection is stuck (frozen Redis, dead path)."""
        self._timer = None
        if not self._pending:
            return
        deadline = self._pending[0][1]
        if deadline - self._loop.time() <= _EARLY_S:
            self.abort(f"redis did not reply within {self._reply_timeout_s * 1000:.0f} ms")
        else:
            self._timer = self._loop.call_at(deadline, self._watch)

    def _fail(self, reason: str) -> None:
        self.open = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            future = self._pending.popleft()[0]
            if not future.done():
                future.set_exception(StoreUnavailable(reason))


class RespClient:
    """A few multiplexed connections to one node; the subset of redis-py's client the store uses."""

    def __init__(
        self,
        address: Address,
        *,
        connections: int = CONNECTIONS,
        connect_timeout_s: float = 0.2,
        reply_timeout_s: float = 0.05,
    ) -> None:
        if hiredis is None:
            raise Unsupported("hiredis is not installed")
        self._address = address
        self._connect_timeout_s = connect_timeout_s
        self._reply_timeout_s = reply_timeout_s
        self._slots: list[_Connection | None] = [None] * connections
        self._opening: list[asyncio.Task[_Connection] | None] = [None] * connections
        self._turn = 0

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout_s: float = 0.2, reply_timeout_s: float = 0.05, **options: Any
    ) -> RespClient:
        """A client for ``url`` (and redis-py style TLS ``options``); ``Unsupported`` if beyond it."""
        address = Address.from_url(url, **options)
        return cls(address, connect_timeout_s=connect_timeout_s, reply_timeout_s=reply_timeout_s)

    @property
    def reply_timeout_s(self) -> float:
        """How long a call on an open connection waits for its reply before it fails."""
        return self._reply_timeout_s

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: str | int) -> Awaitable[Any]:
        return self._call(_pack("EVALSHA", sha, numkeys, *keys_and_args))

    def evalsha_if_open(
        self, sha: str, numkeys: int, *keys_and_args: str | int
    ) -> asyncio.Future[Any] | None:
        """``evalsha`` when the next connection is open, else None (it must be opened first).

        The call is then bounded by ``reply_timeout_s`` without a timer of its own: the
        connection's watchdog fails it (StoreUnavailable) when its reply is overdue.
        """
        conn = self._slots[self._turn]
        if conn is None or not conn.open:
            return None
        self._turn = (self._turn + 1) % len(self._slots)
        return conn.send(_pack("EVALSHA", sha, numkeys, *keys_and_args))

    async def script_load(self, script: str) -> str:
        sha = await self._call(_pack("SCRIPT", "LOAD", script))
        return sha.decode() if isinstance(sha, bytes) else str(sha)

    async def ping(self) -> bool:
        """PING on every connection, each opened first if it is not."""
        await asyncio.gather(*(self._call(_pack("PING")) for _ in self._slots))
        return True

    async def aclose(self) -> None:
        for task in self._opening:
            if task is not None:
                task.cancel()
        for conn in self._slots:
            if conn is not None:
                conn.close()
        self._slots = [None] * len(self._slots)

    def _call(self, command: bytes) -> Awaitable[Any]:
        turn = self._turn
        self._turn = (turn + 1) % len(self._slots)
        conn = self._slots[turn]
        if conn is not None and conn.open:
            return conn.send(command)
        return self._reconnect_and_call(turn, command)

    async def _reconnect_and_call(self, turn: int, command: bytes) -> Any:
        task = self._opening[turn]
        if task is None:
            task = self._opening[turn] = asyncio.ensure_future(self._open())
            task.add_done_callback(partial(self._opened, turn))
        # Shielded: a caller out of budget leaves the connect to finish for the next calls.
        conn = await asyncio.shield(task)
        if not conn.open:  # lost while this caller was waking up
            raise StoreUnavailable("redis connection lost while opening")
        return await conn.send(command)

    def _opened(self, turn: int, task: asyncio.Task[_Connection]) -> None:
        self._opening[turn] = None
        if not task.cancelled() and task.exception() is None:
            self._slots[turn] = task.result()

    async def _open(self) -> _Connection:
        loop, a = asyncio.get_running_loop(), self._address
        conn: _Connection | None = None

        def factory() -> _Connection:
            return _Connection(self._reply_timeout_s)

        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if a.path is not None:
                    _, conn = await loop.create_unix_connection(factory, a.path)
                else:
                    _, conn = await loop.create_connection(factory, a.host, a.port, ssl=a.tls)
                await self._handshake(conn)
            return conn
        except BaseException as e:
            if conn is not None:
                conn.abort("redis connection setup failed")
            if isinstance(e, TimeoutError):
                ms = self._connect_timeout_s * 1000
                raise StoreUnavailable(f"redis did not accept a connection within {ms:.0f} ms") from e
            if isinstance(e, OSError):
                raise StoreUnavailable(f"redis connection failed: {e!r}") from e
            raise

    async def _handshake(self, conn: _Connection) -> None:
        a = self._address
        replies = []
        if a.password is not None:
            credentials = (a.username, a.password) if a.username else (a.password,)
            replies.append(conn.send(_pack("AUTH", *credentials)))
        if a.db:
            replies.append(conn.send(_pack("SELECT", a.db)))
        await asyncio.gather(*replies)
