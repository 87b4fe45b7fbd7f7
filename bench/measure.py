"""One measured run: start the generator process(es), collect their JSON, read CPU and RSS deltas."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import BENCH, PYTHON, Server
from stats import percentile


@dataclass(frozen=True)
class Load:
    """What the generator sends and how: the same for every configuration of a phase."""

    pool: Path
    connections: int
    duration_s: float
    warmup_s: float
    gen_procs: int = 1
    gen_cpus: set[int] | None = None
    tls: tuple[str, str, str] | None = None  # client cert, key, CA bundle


@dataclass
class Run:
    """The numbers of one run of one configuration."""

    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    cpu_us: float  # server processes' CPU per request (all requests of the run, warm-up included)
    sys_cpu_us: float  # the kernel's share of cpu_us
    rss_mib: list[float]
    gen_cpu_us: float  # the generator's own CPU while sending, per request
    gen_util: float  # generator CPU seconds / loaded seconds (1.0 = one core busy)
    non_2xx: int
    errors: int
    exhausted: bool
    sched_p99_ms: float = 0.0
    sched_p999_ms: float = 0.0
    side_cpu_us: dict[str, float] = field(default_factory=dict)  # core, redis per request


def _argv(load: Load, ports: list[int], k: int, rate: float, cycle: bool, start_at: float) -> list[str]:
    argv = [PYTHON, str(BENCH / "load.py"), "--port", ",".join(map(str, ports)), "--requests", str(load.pool)]
    argv += ["--slice", f"{k}/{load.gen_procs}", "--connections", str(load.connections // load.gen_procs)]
    argv += ["--duration", str(load.duration_s), "--warmup", str(load.warmup_s), "--start-at", str(start_at)]
    if rate:
        argv += ["--rate", str(rate / load.gen_procs)]
    if cycle:
        argv.append("--cycle")
    if load.tls is not None:
        argv += ["--tls-cert", load.tls[0], "--tls-key", load.tls[1], "--tls-ca", load.tls[2]]
    return argv


def _pin(cpus: set[int] | None) -> object:
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def run_load(
    load: Load,
    ports: list[int],
    servers: list[Server],
    side: dict[str, Server],
    *,
    rate: float = 0.0,
    cycle: bool = True,
) -> Run:
    """Drive ``ports`` with ``load``; CPU is read from ``servers`` (and ``side``) around the run."""
    start_at = time.time() + 0.8
    before = sum(s.cpu() for s in servers)
    sys_before = sum(s.system_cpu() for s in servers)
    side_before = {name: s.cpu() for name, s in side.items()}
    # Each generator's summary goes to a file: through a pipe, a summary over 64 KiB (its
    # latency samples) came back cut at 65,536 bytes in one run in a few hundred.
    outputs = []
    with contextlib.ExitStack() as files:
        summaries = [files.enter_context(tempfile.TemporaryFile()) for _ in range(load.gen_procs)]
        gens = [
            subprocess.Popen(
                _argv(load, ports, k, rate, cycle, start_at),
                stdout=summaries[k],
                preexec_fn=_pin(load.gen_cpus),  # type: ignore[arg-type]
            )
            for k in range(load.gen_procs)
        ]
        for gen, summary in zip(gens, summaries, strict=True):
            gen.wait(timeout=load.duration_s + load.warmup_s + 60)
            if gen.returncode != 0:
                raise RuntimeError(f"load generator failed ({gen.returncode}) against ports {ports}")
            summary.seek(0)
            outputs.append(json.loads(summary.read()))
    gen_cpu = sum(float(o["cpu_s"]) for o in outputs)  # type: ignore[arg-type]
    cpu = sum(s.cpu() for s in servers) - before
    sys_cpu = sum(s.system_cpu() for s in servers) - sys_before
    wall = load.duration_s + load.warmup_s
    return _combine(outputs, (cpu, sys_cpu), gen_cpu, wall, servers, side, side_before)


def _combine(
    outputs: list[dict[str, object]],
    cpu_user_sys: tuple[float, float],
    gen_cpu: float,
    wall: float,
    servers: list[Server],
    side: dict[str, Server],
    side_before: dict[str, float],
) -> Run:
    lat = sorted(x for o in outputs for x in o["lat_us"])  # type: ignore[attr-defined]
    sched = sorted(x for o in outputs for x in o["sched_us"])  # type: ignore[attr-defined]
    total = sum(int(o["total"]) for o in outputs)  # type: ignore[call-overload]
    statuses: dict[str, int] = {}
    for o in outputs:
        for code, n in o["statuses"].items():  # type: ignore[attr-defined]
            statuses[code] = statuses.get(code, 0) + n
    per_request = 1e6 / max(total, 1)
    cpu, sys_cpu = cpu_user_sys
    return Run(
        rps=sum(int(o["measured"]) / float(o["window_s"]) for o in outputs),  # type: ignore[call-overload]
        requests=total,
        p50_ms=percentile(lat, 50) / 1000,
        p99_ms=percentile(lat, 99) / 1000,
        p999_ms=percentile(lat, 99.9) / 1000,
        cpu_us=cpu * per_request,
        sys_cpu_us=sys_cpu * per_request,
        rss_mib=[round(r, 1) for s in servers for r in s.rss()],
        gen_cpu_us=gen_cpu * per_request,
        gen_util=gen_cpu / wall,
        non_2xx=sum(n for code, n in statuses.items() if not code.startswith("2")),
        errors=sum(int(o["errors"]) for o in outputs),  # type: ignore[call-overload]
        exhausted=any(bool(o["exhausted"]) for o in outputs),
        sched_p99_ms=percentile(sched, 99) / 1000,
        sched_p999_ms=percentile(sched, 99.9) / 1000,
        side_cpu_us={name: (s.cpu() - side_before[name]) * per_request for name, s in side.items()},
    )
