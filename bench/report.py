"""Medians over runs, the ratios to the naive proxy (c) and the core (e), tables and targets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from measure import Run
from stats import median

Summary = dict[str, Any]


def summarise(runs: list[Run]) -> Summary:
    """Medians of every per-run number; errors and non-2xx answers are summed."""

    def med(name: str) -> float:
        return round(median([float(getattr(r, name)) for r in runs]), 3)

    return {
        "runs": len(runs),
        "rps": round(median([r.rps for r in runs]), 1),
        **{k: med(k) for k in ("p50_ms", "p99_ms", "p999_ms", "sched_p99_ms", "sched_p999_ms")},
        "cpu_us": round(median([r.cpu_us for r in runs]), 1),
        "sys_cpu_us": round(median([r.sys_cpu_us for r in runs]), 1),
        "gen_cpu_us": round(median([r.gen_cpu_us for r in runs]), 1),
        "gen_util": round(median([r.gen_util for r in runs]), 2),
        "rss_mib": max((x for r in runs for x in r.rss_mib), default=0.0),
        "rss_first_last": [max(runs[0].rss_mib, default=0.0), max(runs[-1].rss_mib, default=0.0)],
        "side_cpu_us": {
            name: round(median([r.side_cpu_us.get(name, 0.0) for r in runs]), 1)
            for name in (runs[0].side_cpu_us if runs else {})
        },
        "non_2xx": sum(r.non_2xx for r in runs),
        "errors": sum(r.errors for r in runs),
        "exhausted": any(r.exhausted for r in runs),
        "all_runs": [asdict(r) for r in runs],
    }


def add_ratios(phase: dict[str, Summary], naive: str = "c", core: str = "e") -> None:
    for summary in phase.values():
        for name, ref in (("x_naive", naive), ("x_core", core)):
            base = phase.get(ref)
            summary[name] = round(summary["rps"] / base["rps"], 3) if base and base["rps"] else None
        base = phase.get(naive)
        summary["cpu_x_naive"] = (
            round(summary["cpu_us"] / base["cpu_us"], 2) if base and base["cpu_us"] else None
        )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(phase: dict[str, Summary], labels: dict[str, str], workers: int) -> str:
    head = (
        "| config | workers | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | RSS MiB/worker "
        "| vs naive (c) | vs core (e) | non-2xx |"
    )
    lines = [head, "|" + " --- |" * 11]
    for key, s in phase.items():
        lines.append(
            f"| ({key}) {labels[key]} | {workers if key != 'e' else 1} | {s['rps']:,.0f} | {s['p50_ms']:.2f} "
            f"| {s['p99_ms']:.2f} | {s['p999_ms']:.2f} | {s['cpu_us']:.0f} | {s['rss_mib']:.0f} "
            f"| {_ratio(s.get('x_naive'))} | {_ratio(s.get('x_core'))} | {s['non_2xx'] + s['errors']} |"
        )
    return "\n".join(lines)


def open_loop_table(phase: dict[str, Summary], labels: dict[str, str], rate: float) -> str:
    core, nginx = phase.get("e"), phase.get("d")
    lines = [
        f"open loop at {rate:,.0f} req/s (25% of the full chain's capacity):",
        "| config | p50 ms | p99 ms | p99.9 ms | p99 from due time ms | added p99 vs core (e) ms "
        "| added p99 vs nginx (d) ms | CPU µs/req |",
        "|" + " --- |" * 8,
    ]
    for key, s in phase.items():
        vs_core = s["p99_ms"] - core["p99_ms"] if core else float("nan")
        vs_nginx = s["p99_ms"] - nginx["p99_ms"] if nginx else float("nan")
        lines.append(
            f"| ({key}) {labels[key]} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {s['p999_ms']:.3f} "
            f"| {s['sched_p99_ms']:.3f} | {vs_core:.3f} | {vs_nginx:.3f} | {s['cpu_us']:.0f} |"
        )
    return "\n".join(lines)


def strip_runs(results: dict[str, Any]) -> dict[str, Any]:
    """A copy without the per-run lists (for the printed summary)."""
    if isinstance(results, dict):
        return {k: strip_runs(v) for k, v in results.items() if k != "all_runs"}
    return results
