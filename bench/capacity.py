"""How much CPU the machine really has: a pure-Python loop on one CPU alone, then on every CPU at once.

On a VM the vCPUs may share physical cores (or a host quota): then N busy vCPUs deliver less
than N times one, every per-request CPU figure measured while both are busy is inflated, and
no N-worker scaling target can be met. Measured first, so the results can be read against it.
"""

from __future__ import annotations

import os
import subprocess

from procs import PYTHON

_LOOP = (
    "import time\nend = time.perf_counter() + {s}\nn = 0\n"
    "while time.perf_counter() < end:\n    for _ in range(10000): pass\n    n += 1\nprint(n)"
)


def _spin(cpus: list[int], seconds: float) -> list[int]:
    procs = [
        subprocess.Popen(
            [PYTHON, "-c", _LOOP.format(s=seconds)],
            stdout=subprocess.PIPE,
            preexec_fn=lambda c=cpu: os.sched_setaffinity(0, {c}),
        )
        for cpu in cpus
    ]
    return [int(p.communicate(timeout=seconds + 30)[0]) for p in procs]


def parallel_capacity(seconds: float = 1.5) -> dict[str, float]:
    """Work done by all CPUs at once, in units of one CPU working alone."""
    cpus = sorted(os.sched_getaffinity(0))
    alone = _spin(cpus[-1:], seconds)[0]
    together = sum(_spin(cpus, seconds))
    return {
        "cpus": len(cpus),
        "one_alone": alone,
        "all_together": together,
        "ratio": round(together / alone, 2),
    }
