"""Where the full-chain gateway spends its time: ``py-spy record`` under load, summarised.

py-spy samples the running process from outside (``--nonblocking``: it does not pause it), for
a bounded number of seconds, into collapsed stacks (``--format raw``). The summary ranks
functions by self time (the leaf frame of a sample) and by inclusive time (anywhere on the
stack), and the gateway's own modules separately.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def start_record(pid: int, seconds: float, out: Path, rate: int = 250) -> subprocess.Popen[bytes] | None:
    binary = py_spy()
    if binary is None:
        return None
    argv = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate)]
    argv += ["--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match.group("file")
    for marker in ("site-packages/", "/gateway/", "lib/python3.11/"):
        if marker in file:
            file = ("gateway/" if marker == "/gateway/" else "") + file.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({file})"


def _package(name: str) -> str:
    """``func (aiohttp/web_protocol.py)`` -> ``aiohttp``; the event loop's C code shows as asyncio."""
    path = name.rpartition("(")[2].rstrip(")")
    return path.split("/", 1)[0].removesuffix(".py") if "/" in path else path.removesuffix(".py")


def summarise(raw: Path, top: int = 25) -> dict[str, object]:
    """Self and inclusive shares (percent of samples) of the hottest functions."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for name in set(frames):
            inclusive[name] += count
    share = 100.0 / max(total, 1)
    return {
        "samples": total,
        "self_by_package": [(name, round(n * share, 1)) for name, n in packages.most_common()],
        "self": [(name, round(n * share, 1)) for name, n in own.most_common(top)],
        "inclusive": [(name, round(n * share, 1)) for name, n in inclusive.most_common(top * 2)],
    }


def render(summary: dict[str, object]) -> str:
    lines = [f"samples: {summary['samples']}", "", "self time by package (% of samples):"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["self_by_package"]]  # type: ignore[attr-defined]
    lines += ["", "self time (% of samples):"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["self"]]  # type: ignore[attr-defined]
    lines += ["", "inclusive time (% of samples):"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["inclusive"]]  # type: ignore[attr-defined]
    return "\n".join(lines) + "\n"
