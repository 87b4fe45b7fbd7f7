"""The Redis side: a real server (the test-suite's ``RedisServer``), used ids cleared, state pre-filled.

Keys follow the gateway's layout (``gateway.store.base.key``): ``psd2:{tag}:part:...``.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import redis

from gateway.consents import ConsentFacts, consent_key
from gateway.store.base import key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.redis_server import RedisServer

__all__ = ["RedisServer", "clear_request_ids", "prefill", "request_ids"]

_REQUEST_ID = re.compile(rb"\r\nX-Request-ID: ([0-9a-f-]+)\r\n")


def request_ids(raw_requests: Iterable[bytes]) -> list[str]:
    return [m.group(1).decode() for raw in raw_requests if (m := _REQUEST_ID.search(raw))]


def clear_request_ids(client: redis.Redis, tpp: str, ids: list[str], batch: int = 10_000) -> None:
    """Forget the X-Request-IDs of the pool, so the next run can send the same sealed requests."""
    for start in range(0, len(ids), batch):
        client.unlink(*(key(tpp, "rid", rid) for rid in ids[start : start + batch]))


def prefill(client: redis.Redis, count: int, batch: int = 5_000) -> float:
    """``count`` other TPPs, each with a consent, an access-frequency log and a rate-limit state.

    Returns the seconds it took. Three keys per TPP: ``psd2:{consent}:consent`` (the ledger's
    string, as ``ConsentLedger.record`` writes it), ``psd2:{tpp}:freq:...`` (a sorted set of 4
    hits) and ``psd2:{tpp}:rate:...`` (a GCRA tat).
    """
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        tpp, consent = f"PSDBE-BENCH-{i:07d}", f"bench-consent-{i:07d}"
        facts = ConsentFacts(consent, tpp, frequency_per_day=4, valid_until="2099-12-31", status="valid")
        pipe.set(consent_key(consent), f"0:{facts.encode()}")
        path = hashlib.blake2b(f"/v1/accounts/acc-{i}".encode(), digest_size=12).hexdigest()
        hits = {f"{now_ms - n * 1000}:bench:{n}:1": now_ms - n * 1000 for n in range(4)}
        pipe.zadd(key(tpp, "freq", consent, path), hits)
        pipe.set(key(tpp, "rate", tpp, "1000"), str(now_ms + 10), px=86_400_000)
        if i % batch == batch - 1:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def memory_mib(client: redis.Redis) -> float:
    info = client.info("memory")
    return float(info["used_memory"]) / 2**20
