"""The in-process store: the batch semantics of ``base`` in plain Python, for one gateway process.

A batch runs without awaiting, so on one event loop it is atomic by construction. Expiry uses
the caller's clock: a dead entry is dropped when it is next touched, and every
``sweep_every`` batches the ``sweep_size`` least recently inspected entries are checked and the
dead ones dropped (live ones move to the back of the queue). Memory is therefore bounded by the
live entries plus the entries that died since the sweep last reached them, i.e. about the keys
created during ``len(entries) / sweep_size`` sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from gateway.store.base import Once, Op, Outcome, Quota, Read, Write

_EPS = 1e-3  # sub-millisecond: at epoch scale a double keeps only ~0.0002 ms of fraction


@dataclass(slots=True)
class _Entry:
    """A value and when it dies (caller's clock): hit times (log), a TAT (gcra), or a string."""

    expires_at: float
    value: list[int] | float | str


@dataclass(slots=True)
class _Decision:
    allowed: bool = True
    retry_after_ms: int = 0
    counts: bool = False
    left_before: int = 0
    left_after: int = 0
    value: str | None = None
    effects: tuple[tuple[str, _Entry], ...] = ()


class MemoryStore:
    """A ``Store`` in a dict (tests, a single gateway process, the sandbox)."""

    def __init__(self, *, sweep_every: int = 100, sweep_size: int = 1000) -> None:
        self._data: dict[str, _Entry] = {}
        self._sweep_every = sweep_every
        self._sweep_size = sweep_size
        self._batches = 0

    async def run(self, ops: Sequence[Op], now_ms: int) -> list[Outcome]:
        pending: dict[str, _Entry] = {}
        decisions = [self._check(op, now_ms, pending) for op in ops]
        commit = all(d.allowed or not _enforces(op) for op, d in zip(ops, decisions, strict=True))
        for d in decisions:
            if commit and d.counts:
                self._data.update(d.effects)
        self._batches += 1
        if self._batches % self._sweep_every == 0:
            self._sweep(now_ms)
        return [_outcome(d, commit) for d in decisions]

    async def ping(self) -> None:
        return None

    async def warm(self, timeout_s: float) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()

    def _get(self, store_key: str, now: int, pending: dict[str, _Entry] | None = None) -> _Entry | None:
        if pending is not None and store_key in pending:
            return pending[store_key]
        entry = self._data.get(store_key)
        if entry is not None and entry.expires_at <= now:
            del self._data[store_key]
            return None
        return entry

    def _check(self, op: Op, now: int, pending: dict[str, _Entry]) -> _Decision:
        match op:
            case Quota():
                return self._check_quota(op, now, pending)
            case Once():
                return self._check_once(op, now, pending)
            case Read():
                entry = self._get(op.key, now)
                value = entry.value if entry is not None and isinstance(entry.value, str) else None
                return _Decision(value=value)
            case Write():
                expires = now + op.ttl_ms if op.ttl_ms else math.inf
                return _Decision(counts=True, effects=((op.key, _Entry(expires, op.value)),))

    def _check_quota(self, op: Quota, now: int, pending: dict[str, _Entry]) -> _Decision:
        check = _gcra if op.algorithm == "gcra" else _log
        d = check(op, self._get(op.key, now, pending), now)
        if op.dedupe_key is not None and self._get(op.dedupe_key, now, pending) is not None:
            return _Decision(left_before=d.left_before)
        if not d.allowed:
            return d
        if op.dedupe_key is not None:
            d.effects += ((op.dedupe_key, _Entry(now + op.dedupe_ttl_ms, "")),)
        pending.update(d.effects)
        return d

    def _check_once(self, op: Once, now: int, pending: dict[str, _Entry]) -> _Decision:
        entry = self._get(op.key, now, pending)
        if entry is not None:
            return _Decision(allowed=False, retry_after_ms=math.ceil(entry.expires_at - now))
        d = _Decision(counts=True, effects=((op.key, _Entry(now + op.ttl_ms, "")),))
        pending.update(d.effects)
        return d

    def _sweep(self, now: int) -> None:
        for store_key in list(islice(self._data, self._sweep_size)):
            entry = self._data.pop(store_key)
            if entry.expires_at > now:
                self._data[store_key] = entry


def _log(op: Quota, entry: _Entry | None, now: int) -> _Decision:
    hits = (
        [t for t in entry.value if t > now - op.window_ms] if entry and isinstance(entry.value, list) else []
    )
    used = len(hits)
    d = _Decision(left_before=op.limit - used, left_after=op.limit - used - op.cost)
    if used + op.cost <= op.limit:
        d.counts = True
        d.effects = ((op.key, _Entry(now + op.window_ms, sorted([*hits, *[now] * op.cost]))),)
        return d
    # Denied: wait until the k-th oldest hit leaves the window.
    d.allowed = False
    k = used + op.cost - op.limit
    d.retry_after_ms = op.window_ms if op.cost > op.limit else max(hits[k - 1] + op.window_ms - now, 1)
    return d


def _gcra(op: Quota, entry: _Entry | None, now: int) -> _Decision:
    interval = op.window_ms / op.limit
    tat = max(entry.value if entry and isinstance(entry.value, float) else now, now)
    new_tat = tat + op.cost * interval
    d = _Decision(
        left_before=math.floor((op.window_ms - (tat - now)) / interval + _EPS),
        left_after=math.floor((op.window_ms - (new_tat - now)) / interval + _EPS),
    )
    wait = new_tat - op.window_ms - now
    if wait <= _EPS:
        d.counts = True
        d.effects = ((op.key, _Entry(new_tat, new_tat)),)
    else:
        d.allowed, d.retry_after_ms = False, math.ceil(wait - _EPS)
    return d


def _enforces(op: Op) -> bool:
    return op.enforce if isinstance(op, Quota | Once) else True


def _outcome(d: _Decision, commit: bool) -> Outcome:
    counted = commit and d.counts
    return Outcome(
        allowed=d.allowed,
        remaining=max(d.left_after if counted else d.left_before, 0),
        retry_after_ms=d.retry_after_ms,
        counted=counted,
        value=d.value,
    )
