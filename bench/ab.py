"""A/B: the full-chain gateway (a) at two revisions, side by side under the same load.

    python bench/ab.py --base HEAD~1 [--runs 7] [--duration 3] [--config a|b]

``--base`` is any git revision; its ``gateway`` package is exported into a temp directory and
run with ``PYTHONPATH`` naming it, next to the working tree's. Runs alternate (base, work,
work, base, ...), so this machine's drift (up to 1.5x between runs of one configuration) hits
both alike; the report is the median CPU µs per request of each and the median of the per-pair
ratios. A change of a few percent is only worth believing when the pairs agree on its sign.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import fleet
import run as bench_run
from measure import Run
from phases import Bench

ROOT = Path(__file__).resolve().parent.parent


def export(revision: str, into: Path) -> Path:
    """The ``gateway`` package as it was at ``revision``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "gateway"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def start(b: Bench, key: str, pythonpath: str | None) -> fleet.Target:
    saved = os.environ.get("PYTHONPATH")
    if pythonpath:
        os.environ["PYTHONPATH"] = pythonpath
    try:
        store = b.redis_url if key == "a" else "memory://"
        cpus = [b.server_cpus] if b.server_cpus else None
        return fleet.start_gateway(b.m, key, store_url=store, core_url=b.core_url, workers=1, cpus=cpus)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="git revision to compare the working tree with")
    parser.add_argument("--runs", type=int, default=7, help="runs of each (medians reported)")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--config", choices=("a", "b"), default="a", help="full chain (a) or no policies (b)")
    parser.add_argument("--pool", type=int, default=20_000)
    args = parser.parse_args()
    sys.argv = [sys.argv[0], "--pool", str(args.pool), "--duration", str(args.duration)]
    with bench_run.session(bench_run.parse(), "psd2-ab-") as (b, targets):
        old = export(args.base, b.m.directory / "base")
        targets += [start(b, args.config, str(old)), start(b, args.config, None)]
        for target in targets:
            b.one(target, duration=1.0)  # warm-up: pools and caches
        runs: tuple[list[Run], list[Run]] = ([], [])
        for rep in range(args.runs):
            order = (0, 1) if rep % 2 == 0 else (1, 0)
            for i in order:
                runs[i].append(b.one(targets[i]))
            base, new = runs[0][-1], runs[1][-1]
            bench_run.log(
                f"  pair {rep + 1}/{args.runs}: base {base.cpu_us:5.0f} µs/req {base.rps:6,.0f} req/s  "
                f"work {new.cpu_us:5.0f} µs/req {new.rps:6,.0f} req/s  ratio {new.cpu_us / base.cpu_us:.3f}"
            )
    ratios = [n.cpu_us / o.cpu_us for o, n in zip(*runs, strict=True)]
    for name, rs in zip((f"base {args.base}", "working tree"), runs, strict=True):
        cpu = statistics.median(r.cpu_us for r in rs)
        rps = statistics.median(r.rps for r in rs)
        print(f"{name:>24}: {cpu:6.1f} µs/req  {rps:7,.0f} req/s  non-2xx {sum(r.non_2xx for r in rs)}")
    lower = sum(r < 1 for r in ratios)
    median_ratio = statistics.median(ratios)
    print(f"{'work / base CPU':>24}: median {median_ratio:.3f} ({lower}/{len(ratios)} pairs lower)")


if __name__ == "__main__":
    main()
