"""The phases of a bench run: core selection, 1 worker, open loop, state size, profile, 2 workers.

Within a phase every configuration gets the same load against the same core, and the runs are
interleaved (run 1 of a, b, c, d, e, then run 2 ...), so drift on a shared machine hits all alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fleet
import profiling
import redis
import redis_state
import report
from material import ORG_ID, Material
from measure import Load, Run, run_load
from procs import Server


@dataclass
class Bench:
    """What every phase shares: material, load, Redis, the core, the CPU layout."""

    m: Material
    load: Load
    ids: list[str]
    redis_server: Server
    redis_client: redis.Redis
    redis_url: str
    core: Server
    core_port: int
    runs: int
    server_cpus: set[int] | None  # where the server under test runs (1 worker)
    side_cpus: set[int] | None  # generator, core and Redis (1 worker)
    log: Callable[[str], None]

    @property
    def core_url(self) -> str:
        return f"http://127.0.0.1:{self.core_port}"

    def one(self, target: fleet.Target, *, rate: float = 0.0, duration: float | None = None) -> Run:
        if target.replay:
            redis_state.clear_request_ids(self.redis_client, ORG_ID, self.ids)
        load = self.load if target.tls else replace(self.load, tls=None)
        if duration is not None:
            load = replace(load, duration_s=duration)
        side = {"core": self.core, "redis": self.redis_server} if target.key != "e" else {}
        return run_load(load, target.ports, target.servers, side, rate=rate, cycle=not target.replay)

    def interleaved(self, targets: list[fleet.Target], runs: int, rate: float = 0.0) -> dict[str, list[Run]]:
        out: dict[str, list[Run]] = {t.key: [] for t in targets}
        for rep in range(runs):
            for target in targets[rep % len(targets) :] + targets[: rep % len(targets)]:
                run = self.one(target, rate=rate)
                out[target.key].append(run)
                self.log(
                    f"  run {rep + 1}/{runs} ({target.key}) {run.rps:8,.0f} req/s  p99 {run.p99_ms:6.2f} ms  "
                    f"cpu {run.cpu_us:5.0f} µs/req (kernel {run.sys_cpu_us:3.0f})  "
                    f"gen {run.gen_cpu_us:4.0f} µs/req  non-2xx {run.non_2xx}"
                )
        return out


def summarised(raw: dict[str, list[Run]], order: str = "abcde") -> dict[str, report.Summary]:
    phase = {k: report.summarise(raw[k]) for k in order if k in raw}
    report.add_ratios(phase)
    return phase


def core_selection(b: Bench, duration: float) -> dict[str, Any]:
    """The bench core and the sandbox core, each alone on the server core, driven directly."""
    out: dict[str, Any] = {}
    for name, sandbox in (("bench-core", False), ("sandbox-core", True)):
        server, port = fleet.start_core(b.m.directory, b.server_cpus, sandbox=sandbox)
        try:
            target = fleet.core_direct(server, port)
            b.one(target, duration=1.0)
            run = b.one(target, duration=duration)
            out[name] = {"rps": round(run.rps), "cpu_us": round(run.cpu_us, 1), "non_2xx": run.non_2xx}
            b.log(f"  {name}: {run.rps:,.0f} req/s at {run.cpu_us:.1f} µs/req (non-2xx {run.non_2xx})")
        finally:
            server.stop()
    return out


def start_one_worker(b: Bench) -> list[fleet.Target]:
    cpus = [b.server_cpus] if b.server_cpus else None
    targets = [fleet.core_direct(b.core, b.core_port)]
    nginx = fleet.start_nginx(b.m, core_port=b.core_port, workers=1, cpus=b.server_cpus)
    targets += [nginx] if nginx else []
    targets.append(fleet.start_naive(b.m, core_url=b.core_url, workers=1, cpus=cpus))
    targets.append(
        fleet.start_gateway(b.m, "b", store_url="memory://", core_url=b.core_url, workers=1, cpus=cpus)
    )
    targets.append(
        fleet.start_gateway(b.m, "a", store_url=b.redis_url, core_url=b.core_url, workers=1, cpus=cpus)
    )
    for target in targets:  # warm-up: connection pools, certificate and token caches
        b.one(target, duration=1.0)
    return targets


def state_size(b: Bench, gateway: fleet.Target, reference: fleet.Target, count: int) -> dict[str, Any]:
    """(a) with ``count`` TPPs' state in Redis, interleaved with ``reference`` (the naive proxy,
    which never touches Redis): the machine's drift since the 1-worker phase shows in both."""
    before_mib = redis_state.memory_mib(b.redis_client)
    seconds = redis_state.prefill(b.redis_client, count)
    after_mib = redis_state.memory_mib(b.redis_client)
    keys = int(b.redis_client.dbsize())
    b.log(f"  pre-filled {count:,} TPPs ({keys:,} keys, {after_mib - before_mib:.0f} MiB) in {seconds:.1f} s")
    runs = b.interleaved([gateway, reference], b.runs)
    return {
        "tpps": count,
        "keys": keys,
        "prefill_s": round(seconds, 1),
        "redis_used_mib": [round(before_mib, 1), round(after_mib, 1)],
        "a": report.summarise(runs["a"]),
        reference.key: report.summarise(runs[reference.key]),
    }


def profile(b: Bench, gateway: fleet.Target, seconds: float, out_dir: Path) -> dict[str, Any] | None:
    raw = out_dir / "profile-full-chain.txt"
    pid = gateway.servers[0].proc.pid
    recorder = profiling.start_record(pid, seconds, raw)
    if recorder is None:
        b.log("  py-spy not installed (pip install py-spy): no profile")
        return None
    if b.side_cpus:
        os.sched_setaffinity(recorder.pid, b.side_cpus)
    time.sleep(0.5)
    run = b.one(gateway, duration=seconds)
    _, err = recorder.communicate(timeout=seconds + 30)
    if not raw.exists():
        b.log(f"  py-spy failed: {err.decode(errors='replace')[-500:]}")
        return None
    summary = profiling.summarise(raw)
    (out_dir / "profile-summary.txt").write_text(profiling.render(summary))
    return {"rps_while_profiling": round(run.rps), "raw": str(raw), **summary}


def two_workers(b: Bench, nginx_too: bool) -> dict[str, list[Run]]:
    """2 worker processes per configuration, one per core; generator, core and Redis float."""
    everywhere = set(range(os.cpu_count() or 1))
    for server in (b.core, b.redis_server):
        server.pin(everywhere)
    cpus = [{c} for c in sorted(everywhere)] if len(everywhere) > 1 else None
    targets = [fleet.start_naive(b.m, core_url=b.core_url, workers=2, cpus=cpus)]
    targets.append(
        fleet.start_gateway(b.m, "a", store_url=b.redis_url, core_url=b.core_url, workers=2, cpus=cpus)
    )
    nginx = fleet.start_nginx(b.m, core_port=b.core_port, workers=2, cpus=None) if nginx_too else None
    targets = ([nginx] if nginx else []) + targets
    original = b.load
    b.load = replace(b.load, gen_cpus=None)
    try:
        for target in targets:
            b.one(target, duration=1.0)
        return b.interleaved(targets, b.runs)
    finally:
        b.load = original
        for target in targets:
            target.stop()
