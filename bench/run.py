"""Benchmark the gateway against a naive aiohttp proxy, nginx and the bare core, on loopback.

    python bench/run.py [--quick] [--runs 5] [--duration 3] [--skip-two-workers] [--skip-profile]

Writes ``bench/results/latest.json`` (every run) and ``bench/results/latest.md`` (the tables),
and prints the tables and the targets. See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import awake
import capacity
import fleet
import material
import phases
import pool
import redis_state
import report
from fleet import LABELS
from load import read_pool
from measure import Load
from procs import BENCH, Server

RESULTS = BENCH / "results"
STARTED = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {text}", flush=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run of 2 s per configuration, smaller pool")
    parser.add_argument("--runs", type=int, default=5, help="runs per configuration (medians reported)")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--gen-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--pool", type=int, default=20_000, help="sealed requests (distinct X-Request-IDs)")
    parser.add_argument("--state-size", type=int, default=100_000, help="TPPs pre-filled in Redis")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument(
        "--keep-cpus-awake", action="store_true", help="open loop with SCHED_IDLE spinners (see awake.py)"
    )
    parser.add_argument("--skip-two-workers", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--skip-state", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.duration, args.pool = 1, 2.0, min(args.pool, 12_000)
        args.profile_seconds = min(args.profile_seconds, 4.0)
    return args


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "nginx": shutil.which("nginx") is not None,
    }


def setup(args: argparse.Namespace, work: Path, redis: redis_state.RedisServer) -> phases.Bench:
    m = material.create(work)
    started = time.perf_counter()
    pool_path = pool.build(m, args.pool, work / "pool.bin")
    log(f"sealed {args.pool:,} requests in {time.perf_counter() - started:.1f} s")
    two = (os.cpu_count() or 1) >= 2
    server_cpus, side_cpus = ({1}, {0}) if two else (None, None)
    redis.start()
    redis_proc = Server("redis", redis.proc, redis.dir / "server.log")  # type: ignore[arg-type]
    if side_cpus:
        redis_proc.pin(side_cpus)
    load = Load(
        pool_path,
        args.connections,
        args.duration,
        args.warmup,
        args.gen_procs,
        side_cpus,
        (str(m.qwac_cert), str(m.qwac_key), str(m.trust)),
    )
    core, core_port = fleet.start_core(work, side_cpus)
    return phases.Bench(
        m,
        load,
        redis_state.request_ids(read_pool(pool_path)),
        redis_proc,
        redis.client(),
        redis.url,
        core,
        core_port,
        args.runs,
        server_cpus,
        side_cpus,
        log,
    )


@contextlib.contextmanager
def session(args: argparse.Namespace, prefix: str) -> Iterator[tuple[phases.Bench, list[fleet.Target]]]:
    """A temp directory, Redis, the sealed pool and the core for one tool's runs.

    The targets the caller appends to the list are stopped at the end, then the core and Redis,
    whatever happened; the directory is removed.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    redis = redis_state.RedisServer()
    targets: list[fleet.Target] = []
    bench = None
    try:
        bench = setup(args, work, redis)
        yield bench, targets
    finally:
        for target in targets:
            target.stop()
        if bench is not None:
            bench.core.stop()
        redis.close()
        shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, b: phases.Bench, results: dict[str, Any]) -> None:
    results["capacity"] = capacity.parallel_capacity()
    log(f"parallel capacity: all CPUs busy = {results['capacity']['ratio']}x one CPU alone")
    log("core selection (each core alone on the server core, plain HTTP)")
    results["core_selection"] = phases.core_selection(b, args.duration)
    log(f"1 worker: {args.runs} interleaved runs of {args.duration} s per configuration")
    targets = phases.start_one_worker(b)
    by_key = {t.key: t for t in targets}
    try:
        one = phases.summarised(b.interleaved(targets, args.runs))
        results["one_worker"] = one
        rate = 0.25 * one["a"]["rps"]
        log(f"open loop at {rate:,.0f} req/s")
        with awake.cpus_awake(args.keep_cpus_awake):
            open_runs = b.interleaved(targets, max(1, (args.runs + 1) // 2), rate=rate)
        results["open_loop"] = {"rate": round(rate), **phases.summarised(open_runs)}
        if not args.skip_profile:
            log(f"profile of (a) under closed-loop load ({args.profile_seconds:.0f} s, py-spy)")
            results["profile"] = phases.profile(b, by_key["a"], args.profile_seconds, RESULTS)
        if not args.skip_state:
            log(f"state size: {args.state_size:,} TPPs in Redis")
            results["state_size"] = phases.state_size(b, by_key["a"], by_key["c"], args.state_size)
            b.redis_client.flushall()
    finally:
        for target in targets:
            if target.key != "e":
                target.stop()
    if not args.skip_two_workers:
        log("2 workers (one per core; generator, core and Redis share both cores)")
        two = phases.summarised(phases.two_workers(b, nginx_too="d" in by_key))
        results["two_workers"] = two


def _target(name: str, value: float | None, met: bool | None) -> dict[str, Any]:
    return {"target": name, "value": None if value is None else round(value, 3), "met": met}


def _machine_ceiling(summary: dict[str, Any], cpus_worth: float) -> float | None:
    """Requests/s if every CPU did only this configuration's requests: server, generator, core, Redis."""
    per_request_us = summary["cpu_us"] + summary["gen_cpu_us"] + sum(summary["side_cpu_us"].values())
    return cpus_worth * 1e6 / per_request_us if per_request_us else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue as measured; ``met`` None is information, not a target."""
    one = results["one_worker"]
    a, c = one["a"], one["c"]
    out = [_target("full chain >= 1.0x naive proxy (1 worker)", a["x_naive"], a["x_naive"] >= 1.0)]
    # Each round runs every configuration back to back: a pair from one round shares the machine's
    # moment, so its ratio drifts less than a ratio of medians taken over minutes.
    pairs = [cr["cpu_us"] / ar["cpu_us"] for ar, cr in zip(a["all_runs"], c["all_runs"], strict=False)]
    if pairs:
        paired = statistics.median(pairs)
        out.append(
            _target("(info) naive CPU / full chain CPU per request, median of same-round pairs", paired, None)
        )
    two = results.get("two_workers")
    if two:
        out.append(
            _target(
                "full chain >= 1.0x naive proxy (2 workers)", two["a"]["x_naive"], two["a"]["x_naive"] >= 1.0
            )
        )
        scale = two["a"]["rps"] / a["rps"]
        out.append(_target("2 workers >= 1.8x 1 worker (full chain)", scale, scale >= 1.8))
        # In this phase the generator, the core and Redis run on the workers' CPUs: the rate
        # the machine allows is its CPUs' worth of time over everything a request costs.
        # The capacity probe itself can be fooled by this VM (one run found 2.72x on 2 CPUs).
        cpus_worth = min(float(results["capacity"]["ratio"]), float(results["capacity"]["cpus"]))
        for key in ("a", "c"):
            ceiling = _machine_ceiling(two[key], cpus_worth)
            if ceiling:
                name = f"(info) 2 workers ({key}): req/s / the machine's ceiling (all CPU per request)"
                out.append(_target(name, two[key]["rps"] / ceiling, None))
        out.append(_target("(info) naive proxy 2 workers / 1 worker", two["c"]["rps"] / c["rps"], None))
        if "d" in two and "d" in one:
            out.append(_target("(info) nginx 2 workers / 1 worker", two["d"]["rps"] / one["d"]["rps"], None))
    ol = results["open_loop"]
    for ref in ("e", "d"):
        if ref in ol:
            added = ol["a"]["p99_ms"] - ol[ref]["p99_ms"]
            out.append(_target(f"gateway-added p99 <= 1 ms at 25% load (vs {ref})", added, added <= 1.0))
    out.append(_target("full chain <= 110 µs CPU/request", a["cpu_us"], a["cpu_us"] <= 110))
    state = results.get("state_size")
    if state:
        growth = state["a"]["rss_mib"] - a["rss_mib"]
        out.append(_target("RSS per worker flat with 100k TPPs in Redis (MiB growth)", growth, growth <= 5.0))
        raw = state["a"]["cpu_us"] / a["cpu_us"]
        out.append(_target("(info) CPU/request with 100k TPPs / without, unadjusted", raw, None))
        # Against the naive proxy measured alongside each: the machine drifts by more than 10%.
        ratio = (state["a"]["cpu_us"] / state["c"]["cpu_us"]) / (a["cpu_us"] / c["cpu_us"])
        out.append(_target("CPU/request with 100k TPPs / without (each vs naive proxy)", ratio, ratio <= 1.1))
    return out


def render(results: dict[str, Any]) -> str:
    parts = ["## 1 worker (closed loop, 32 connections)", report.table(results["one_worker"], LABELS, 1)]
    ol = dict(results["open_loop"])
    rate = ol.pop("rate")
    parts += ["## Open loop", report.open_loop_table(ol, LABELS, rate)]
    if "two_workers" in results:
        parts += ["## 2 workers", report.table(results["two_workers"], LABELS, 2)]
    if "state_size" in results:
        s = results["state_size"]
        parts += [
            f"## State size: {s['tpps']:,} TPPs, {s['keys']:,} keys, Redis {s['redis_used_mib']} MiB",
            report.table({"a": s["a"], "c": s["c"]}, LABELS, 1),
        ]
    cap = results.get("capacity", {})
    parts += [f"Machine: {cap.get('cpus')} CPUs; all busy at once deliver {cap.get('ratio')}x one CPU alone."]
    parts += ["## Targets"] + [
        f"- {t['target']}: {t['value']} -> {'met' if t['met'] else 'MISSED' if t['met'] is False else 'info'}"
        for t in results["targets"]
    ]
    one = results["one_worker"]
    gen = one.get("d", one["c"])
    parts += [
        f"Generator: {gen['gen_cpu_us']:.0f} µs CPU/request against ({'d' if 'd' in one else 'c'}) "
        f"-> ceiling ~{1e6 / max(gen['gen_cpu_us'], 1):,.0f} req/s per generator process "
        f"(its core {gen['gen_util']:.0%} busy)."
    ]
    return "\n\n".join(parts) + "\n"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (and SIGINT in a background job): stop every server we started


def main() -> None:
    args = parse()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    with session(args, "psd2-bench-") as (bench, _):
        run_all(args, bench, results)
    results["targets"] = targets(results)
    results["elapsed_s"] = round(time.monotonic() - STARTED, 1)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    text = render(results)
    args.out.with_suffix(".md").write_text(text)
    print(text)
    log(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
