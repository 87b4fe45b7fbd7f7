"""Server processes: start (pinned to cores), wait for the port, read CPU and RSS from /proc, stop.

CPU is utime + stime of ``/proc/<pid>/stat`` (fields 14 and 15, in clock ticks) over the process
and its children (nginx workers), so a request's CPU cost is ``delta / requests``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int) -> float:
    return sum(cpu_user_system(pid))


def cpu_user_system(pid: int) -> tuple[float, float]:
    """User and kernel CPU seconds: the kernel share is syscalls, TLS-free socket work and loopback."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) * TICK_S, int(fields[12]) * TICK_S  # utime, stime: fields 14 and 15 of stat


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Server:
    """A started process; ``workers`` are the pids that serve (itself, or an nginx master's children)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    has_workers: bool = False

    @property
    def workers(self) -> list[int]:
        return children(self.proc.pid) if self.has_workers else [self.proc.pid]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in [self.proc.pid, *children(self.proc.pid)])

    def system_cpu(self) -> float:
        return sum(cpu_user_system(pid)[1] for pid in [self.proc.pid, *children(self.proc.pid)])

    def rss(self) -> list[float]:
        return [rss_mib(pid) for pid in self.workers]

    def pin(self, cpus: set[int]) -> None:
        for pid in [self.proc.pid, *children(self.proc.pid)]:
            os.sched_setaffinity(pid, cpus)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start(
    name: str, argv: Sequence[str], log_dir: Path, *, cpus: set[int] | None = None, quiet: bool = False
) -> Server:
    """Start ``argv``; stderr (and stdout unless ``quiet``: per-request logs) go to ``log_dir/name.log``."""
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.DEVNULL if quiet else out,
            stderr=out,
            cwd=BENCH.parent,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    return Server(name, proc, log)


def wait_port(server: Server, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not listen on {port} within {timeout_s} s")
