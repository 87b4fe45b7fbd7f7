"""Keep every vCPU out of its idle state during latency measurements (SCHED_IDLE busy loops).

On this VM (Firecracker) an idle vCPU halts, and waking it for a packet costs up to ~5 ms: at
light load that wake-up, not the server, sets the p99 (measured: nginx p99 at 1,000 req/s is
1.4-5.8 ms with idle vCPUs, 0.7 ms with these loops). A SCHED_IDLE task runs only when nothing
else wants the CPU and is preempted at once, so the servers' CPU time and their latency are
theirs; only the halt is gone. Used for the open-loop phase only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

from procs import PYTHON


def _idle_on(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


@contextlib.contextmanager
def cpus_awake(enabled: bool = True) -> Iterator[None]:
    spinners: list[subprocess.Popen[bytes]] = []
    if enabled:
        for cpu in sorted(os.sched_getaffinity(0) | set(range(os.cpu_count() or 1))):
            spinners.append(
                subprocess.Popen([PYTHON, "-c", "while True: pass"], preexec_fn=lambda c=cpu: _idle_on(c))
            )
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait(5)
