"""The Redis store: one ``EVALSHA`` of ``batch.lua`` per hash tag, all tags concurrently.

A batch is split by ``hash_tag(key)``; each group is encoded compactly (keys deduplicated in
KEYS, op records in ARGV, see the header of ``batch.lua``) and evaluated in one script, so on
Redis Cluster each group lives in one slot and a request costs one round trip. When an
enforcing operation is denied under one tag, the groups that committed are undone (see
``base``). Every call is bounded by ``budget_ms``; every failure becomes ``StoreUnavailable``.

On one node the client is ``resp.RespClient`` (a few multiplexed connections, none of redis-py's
per-call machinery); Cluster, and URLs or options it does not cover, use redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from gateway.store.base import Once, Op, Outcome, Quota, Read, StoreUnavailable, Write, hash_tag
from gateway.store.resp import NoScript, RespClient, Unsupported

SCRIPT = files("gateway.store").joinpath("batch.lua").read_text(encoding="utf-8")
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)
_FIELDS = 5  # values per operation in the script's reply
T = TypeVar("T")


@dataclass(slots=True)
class _Group:
    """The operations of one hash tag, encoded for ``batch.lua``."""

    indexes: list[int] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)
    args: list[str | int] = field(default_factory=list)

    def ix(self, store_key: str) -> int:
        return self.keys.setdefault(store_key, len(self.keys) + 1)


class RedisStore:
    """A ``Store`` over a ``RespClient`` (one node) or a redis-py ``Redis`` or ``RedisCluster``."""

    def __init__(self, client: RespClient | Redis | RedisCluster, *, budget_ms: int = 50) -> None:
        self._client = client
        self._budget_s = budget_ms / 1000
        self._script_loaded = False
        # The lean client bounds a call on an open connection by its reply timeout: when that is
        # within the budget, the call needs no ``asyncio.timeout`` (~9 µs under uvloop) of its own.
        self._lean: RespClient | None = None
        if isinstance(client, RespClient) and client.reply_timeout_s <= self._budget_s:
            self._lean = client

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        budget_ms: int = 50,
        connect_timeout_ms: int = 200,
        max_connections: int = 32,
        health_check_interval_s: int = 10,
        **kwargs: Any,
    ) -> RedisStore:
        """``redis://``, ``rediss://``, ``unix://``, or ``redis+cluster://`` / ``rediss+cluster://``.

        Query parameters and ``kwargs`` go to redis-py (``ssl_ca_certs``, ``ssl_certfile``...).
        ``budget_ms`` must cover a connect (and TLS handshake) to Redis: a cold connection is
        opened inside the first call's budget.

        On one node, when hiredis is installed and ``kwargs`` hold only TLS options, the client
        is a ``RespClient``: its few connections are each shared by all calls, so
        ``max_connections`` and the health checks (a lost connection is seen while idle) are
        redis-py's only.
        """
        scheme, sep, rest = url.partition("://")
        if scheme not in ("redis+cluster", "rediss+cluster"):
            with contextlib.suppress(Unsupported):
                resp = RespClient.from_url(
                    url,
                    connect_timeout_s=connect_timeout_ms / 1000,
                    reply_timeout_s=budget_ms / 1000,
                    **kwargs,
                )
                return cls(resp, budget_ms=budget_ms)
        options: dict[str, Any] = {
            # A read never outlives the budget, even outside ``run`` (health checks); when it
            # fires redis-py drops the connection, so a late reply is never read by the next call.
            "socket_timeout": budget_ms / 1000,
            # Backstop for connects; inside ``run`` the budget cancels them first.
            "socket_connect_timeout": connect_timeout_ms / 1000,
            # One immediate retry on a connection error only: a pooled connection that died with
            # a Redis restart fails on first use and the retry opens a fresh one, so the first
            # request after a restart succeeds. Timeouts are never retried (a slow Redis would
            # only get twice the load); a retried script may count twice, never too few.
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            # A connection idle this long is PINGed before use: half-open sockets (load balancer
            # idle cut-offs) are found on a cheap PING, inside the budget.
            "health_check_interval": health_check_interval_s,
            **kwargs,
        }
        if scheme in ("redis+cluster", "rediss+cluster"):
            # RedisCluster keeps one pool per node and has no blocking pool: ``max_connections``
            # is per node, and an exhausted pool fails at once (-> StoreUnavailable).
            node_url = scheme.removesuffix("+cluster") + sep + rest
            return cls(
                # (RedisCluster has no retry_on_timeout: its Retry above already excludes timeouts.)
                RedisCluster.from_url(node_url, max_connections=max_connections, **options),
                budget_ms=budget_ms,
            )
        # Bounded pool: under a burst a call waits (at most the budget) for a free connection
        # instead of opening sockets without limit or failing at once with "too many connections".
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=budget_ms / 1000, retry_on_timeout=False, **options
        )
        return cls(Redis.from_pool(pool), budget_ms=budget_ms)

    async def run(self, ops: Sequence[Op], now_ms: int) -> list[Outcome]:
        if not ops:
            return []
        nonce = secrets.token_hex(6)
        groups = _encode(ops, now_ms, nonce)
        if len(groups) == 1:  # the usual case (one TPP's keys): no gather machinery on the hot path
            replies = [await self._eval_within_budget(groups[0].keys, groups[0].args)]
        else:
            replies = await self._guard(asyncio.gather(*(self._eval(g.keys, g.args) for g in groups)))
        outcomes: list[Outcome] = [Outcome(allowed=True)] * len(ops)
        raw: list[list[Any]] = [[]] * len(ops)
        for group, reply in zip(groups, replies, strict=True):
            for j, i in enumerate(group.indexes):
                raw[i] = reply[j * _FIELDS : (j + 1) * _FIELDS]
                outcomes[i] = _decode(ops[i], raw[i], now_ms)
        if len(groups) > 1:  # one group's script already committed all or nothing
            await self._undo_if_denied(groups, ops, raw, outcomes, now_ms, nonce)
        return outcomes

    async def ping(self) -> None:
        await self._guard(cast(Awaitable[Any], self._client.ping()))

    async def warm(self, timeout_s: float) -> None:
        """Connect, discover cluster slots and load the script now, with start-up patience.

        A cold first burst would otherwise pay all of that inside each request's budget, and a
        fail-open rule would then let the burst through on local counters.
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._client.ping()
                await self._load_script()
        except TimeoutError as e:
            raise StoreUnavailable(f"redis did not answer within {timeout_s:.0f} s at start") from e
        except _FAILURES as e:
            raise StoreUnavailable(f"redis failed at start: {e!r}") from e

    async def close(self) -> None:
        await self._client.aclose()

    async def _eval_within_budget(self, keys: dict[str, int], args: list[str | int]) -> list[Any]:
        """``_eval`` under ``_guard``; on an open lean connection, under its watchdog instead."""
        sent = None
        if self._lean is not None and self._script_loaded:
            sent = self._lean.evalsha_if_open(SCRIPT_SHA, len(keys), *keys, *args)
        if sent is None:
            return await self._guard(self._eval(keys, args))
        deadline = asyncio.get_running_loop().time() + self._budget_s
        try:
            return cast(list[Any], await sent)  # bounded by the connection's watchdog
        except NoScript:
            return await self._guard(self._reload_and_eval(keys, args), deadline)

    async def _eval(self, keys: dict[str, int], args: list[str | int]) -> list[Any]:
        if not self._script_loaded:
            await self._load_script()
        try:
            return cast(list[Any], await self._client.evalsha(SCRIPT_SHA, len(keys), *keys, *args))
        except (NoScriptError, NoScript):
            return await self._reload_and_eval(keys, args)

    async def _reload_and_eval(self, keys: dict[str, int], args: list[str | int]) -> list[Any]:
        # Lost (restart, SCRIPT FLUSH, failover, new node): load it again, on every primary.
        # (Not EVAL: on Cluster, concurrent NOSCRIPT replies made redis-py drop connections.)
        await self._load_script()
        return cast(list[Any], await self._client.evalsha(SCRIPT_SHA, len(keys), *keys, *args))

    async def _load_script(self) -> None:
        await self._client.script_load(SCRIPT)
        self._script_loaded = True

    async def _undo_if_denied(
        self,
        groups: list[_Group],
        ops: Sequence[Op],
        raw: list[list[Any]],
        outcomes: list[Outcome],
        now_ms: int,
        nonce: str,
    ) -> None:
        """When a group denied an enforcing op, take back what the other groups committed."""
        denied = [any(_denies(ops[i], outcomes[i]) for i in g.indexes) for g in groups]
        if any(denied):
            committed = [g for g, d in zip(groups, denied, strict=True) if not d]
            await self._undo(committed, ops, raw, now_ms, nonce)
            for g in committed:
                for i in g.indexes:
                    outcomes[i] = _uncounted(ops[i], outcomes[i])

    async def _undo(
        self, groups: list[_Group], ops: Sequence[Op], raw: list[list[Any]], now_ms: int, nonce: str
    ) -> None:
        calls = []
        for g in groups:
            args: list[str | int] = ["undo", now_ms, nonce]
            for j, i in enumerate(g.indexes):
                if raw[i][3]:
                    args += _undo_record(g, j + 1, ops[i], raw[i], now_ms)
            if len(args) > 3:
                calls.append(self._eval(g.keys, args))
        # The decision is known (rejected): a failed undo only leaves some hits counted.
        with contextlib.suppress(StoreUnavailable):
            await self._guard(asyncio.gather(*calls))

    async def _guard(self, call: Awaitable[T], deadline: float | None = None) -> T:
        """``call`` within the budget (or until ``deadline``, loop time); failures as StoreUnavailable."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self._budget_s
        try:
            async with asyncio.timeout_at(deadline):
                return await call
        except TimeoutError as e:
            raise StoreUnavailable(f"redis did not answer within {self._budget_s * 1000:.0f} ms") from e
        except _FAILURES as e:
            raise StoreUnavailable(f"redis failed: {e!r}") from e


def _encode(ops: Sequence[Op], now_ms: int, nonce: str) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for i, op in enumerate(ops):
        tag = hash_tag(op.key)
        g = groups.get(tag)
        if g is None:
            g = groups[tag] = _Group(args=["run", now_ms, nonce])
        g.indexes.append(i)
        match op:
            case Quota():
                dedupe = g.ix(op.dedupe_key) if op.dedupe_key is not None else 0
                kind = "L" if op.algorithm == "log" else "G"
                g.args += [kind, g.ix(op.key), op.limit, op.window_ms, op.cost, int(op.enforce)]
                g.args += [dedupe, op.dedupe_ttl_ms]
            case Once():
                g.args += ["O", g.ix(op.key), op.ttl_ms, int(op.enforce)]
            case Read():
                g.args += ["R", g.ix(op.key)]
            case Write():
                g.args += ["W", g.ix(op.key), op.ttl_ms, _raw(op, now_ms)]
    return list(groups.values())


def _raw(op: Write, now_ms: int) -> str:
    """A Write's stored form: the expiry by the caller's clock (0 = never), then the value."""
    return f"{now_ms + op.ttl_ms if op.ttl_ms else 0}:{op.value}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(op: Op, raw: list[Any], now_ms: int) -> Outcome:
    allowed, remaining, retry, counted, value = raw
    if isinstance(op, Read):
        expires, _, text = _text(value).partition(":")
        alive = expires and (int(expires) == 0 or int(expires) > now_ms)
        return Outcome(allowed=True, value=text if alive else None)
    if isinstance(op, Write):
        return Outcome(allowed=True, counted=bool(counted))
    return Outcome(bool(allowed), int(remaining), int(retry), bool(counted))


def _denies(op: Op, outcome: Outcome) -> bool:
    return isinstance(op, Quota | Once) and op.enforce and not outcome.allowed


def _uncounted(op: Op, outcome: Outcome) -> Outcome:
    if not outcome.counted:
        return outcome
    remaining = min(outcome.remaining + op.cost, op.limit) if isinstance(op, Quota) else 0
    return Outcome(outcome.allowed, remaining, outcome.retry_after_ms, counted=False, value=outcome.value)


def _undo_record(g: _Group, index: int, op: Op, raw: list[Any], now_ms: int) -> list[str | int]:
    """What ``batch.lua`` needs to take back the committed effect of op number ``index``."""
    match op:
        case Quota():
            record: list[str | int]
            if op.algorithm == "log":
                record = ["Z", g.ix(op.key), index, op.cost]
            else:
                record = ["T", g.ix(op.key), repr(op.cost * op.window_ms / op.limit)]
            return record + (["D", g.ix(op.dedupe_key)] if op.dedupe_key is not None else [])
        case Once():
            return ["D", g.ix(op.key)]
        case Write():
            return ["S", g.ix(op.key), _raw(op, now_ms), _text(raw[4]), int(raw[1])]
    return []
