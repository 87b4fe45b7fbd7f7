"""Redis's own CPU per full-chain store batch: ``batch.lua`` against an empty script and a ``SET NX``.

    python bench/bench_store_script.py [--calls 8000] [--rounds 4]

Starts a Redis-compatible server (the test suite's), encodes the bench's full-chain batch the
way the gateway does (two GCRA windows of ``rate-limit`` and the ``request-id-replay`` stamp,
a fresh request id each time) and sends ``--calls`` of them pipelined 32 at a time. The
server's CPU comes from ``/proc/<pid>/stat``; each figure is the best of ``--rounds`` rounds,
because this VM's speed changes within seconds.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
import redis_state  # noqa: F401  (puts the test suite's support package on the path)
from procs import cpu_seconds
from support.redis_server import RedisServer

from gateway.store.base import Once, Quota, key
from gateway.store.redis import SCRIPT, _encode

TPP = "PSDBE-NBB-0123456789"
PER_SECOND = Quota(key(TPP, "rate", "s"), 1_000_000, 1_000, algorithm="gcra")
PER_DAY = Quota(key(TPP, "rate", "d"), 100_000_000, 86_400_000, algorithm="gcra")
Queue = Callable[[Any], None]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        batch_sha = client.script_load(SCRIPT)
        empty_sha = client.script_load("return 1")

        def batch_of(sha: str) -> Queue:
            def queue(pipe: Any) -> None:
                replay = Once(key(TPP, "rid", str(uuid.uuid4())), 600_000)
                group = _encode([PER_SECOND, PER_DAY, replay], int(time.time() * 1000), "0123456789ab")[0]
                pipe.evalsha(sha, len(group.keys), *group.keys, *group.args)

            return queue

        def set_nx(pipe: Any) -> None:
            pipe.set(key(TPP, "rid", str(uuid.uuid4())), "1", nx=True, px=600_000)

        cases: dict[str, Queue] = {
            "batch.lua, full-chain batch": batch_of(batch_sha),
            "empty script, same arguments": batch_of(empty_sha),
            "SET NX PX": set_nx,
        }
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, queue in cases.items():
                best[name] = min(
                    best.get(name, float("inf")), _server_cpu_us(client, server, queue, args.calls)
                )
        for name, us in best.items():
            print(f"{name:32s} {us:6.1f} µs of server CPU per call")
    finally:
        server.close()


def _server_cpu_us(client: redis.Redis, server: RedisServer, queue: Queue, calls: int) -> float:
    pid = server.proc.pid  # type: ignore[union-attr]
    before = cpu_seconds(pid)
    for start in range(0, calls, 32):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(32, calls - start)):
            queue(pipe)
        pipe.execute()
    return (cpu_seconds(pid) - before) / calls * 1e6


if __name__ == "__main__":
    main()
