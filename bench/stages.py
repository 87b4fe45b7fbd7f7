"""Where the full chain's time goes under real load, timed inside the gateway process.

    python bench/stages.py [--all] [--runs 3] [--duration 3]

Starts the full-chain gateway (a) as ``run.py`` does (mTLS, the generator, the core and Redis
pinned to the other CPU), with ``bench/stage_timer`` first on its ``PYTHONPATH``: that
``sitecustomize`` wraps some functions of the request path in a timer (its ``STAGES``; with
``--all`` also ``MORE_STAGES``, the rest of the path). A
second, untimed (a) runs next to it, so the timers' own cost shows. Prints each stage's
time per request under load; ``bench_hotpath.py`` times the same functions alone, in a loop.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import fleet
import run as bench_run
from phases import Bench

TIMER = Path(__file__).resolve().parent / "stage_timer"
Totals = dict[str, list[int]]


def start(b: Bench, times: Path | None, every_stage: bool = False) -> fleet.Target:
    cpus = [b.server_cpus] if b.server_cpus else None
    saved = dict(os.environ)
    if times is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TIMER), os.environ.get("PYTHONPATH")]))
        os.environ["PSD2_STAGE_TIMES"] = str(times)
        if every_stage:
            os.environ["PSD2_STAGE_TIMES_ALL"] = "1"
    try:
        return fleet.start_gateway(b.m, "a", store_url=b.redis_url, core_url=b.core_url, workers=1, cpus=cpus)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def read(times: Path) -> Totals:
    time.sleep(0.6)  # the timer writes twice a second
    return dict(json.loads(times.read_text()))


def main() -> None:
    every_stage = "--all" in sys.argv
    if every_stage:
        sys.argv.remove("--all")
    args = bench_run.parse()
    with bench_run.session(args, "psd2-stages-") as (b, targets):
        times = b.m.directory / "stage-times.json"
        timed, plain = [start(b, times, every_stage), start(b, None)]
        targets += [timed, plain]
        for target in targets:
            b.one(target, duration=1.0)  # warm-up: pools and caches
        per_request: dict[str, list[float]] = {}
        for rep in range(args.runs):
            before = read(times)
            run = b.one(timed)
            after = read(times)
            untimed = b.one(plain)
            requests = after["policies, all"][0] - before["policies, all"][0]
            b.log(
                f"  run {rep + 1}/{args.runs}: timed {run.cpu_us:.0f} µs/req ({run.rps:,.0f} req/s), "
                f"untimed {untimed.cpu_us:.0f} µs/req, {requests:,} requests timed"
            )
            for label, (_, nanos) in after.items():
                per_request.setdefault(label, []).append((nanos - before[label][1]) / requests / 1000)
    print("| stage | µs per request under load (runs) |\n| --- | --- |")
    for label, values in per_request.items():
        print(f"| {label} | {' / '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
