"""bench/stage_timer names functions of the request path: it must follow their renames."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

TIMER = Path(__file__).resolve().parent.parent / "bench" / "stage_timer"


def test_every_stage_resolves_and_is_reported(tmp_path: Path) -> None:
    times = tmp_path / "times.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(TIMER),
        "PSD2_STAGE_TIMES": str(times),
        "PSD2_STAGE_TIMES_ALL": "1",
    }
    # sitecustomize wraps the stages at start-up; the policy is then called through the wrapper.
    script = (
        "import asyncio, time\n"
        "from gateway.policies.rate_limit import RateLimitPolicy\n"
        "assert RateLimitPolicy.enforce.__wrapped__ is not None\n"
        "time.sleep(0.8)\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    reported = json.loads(times.read_text())
    spec = importlib.util.spec_from_file_location("bench_stage_timer", TIMER / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    timer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timer)  # PSD2_STAGE_TIMES is not set here: nothing is wrapped
    labels = [label for _, _, label in (*timer.STAGES, *timer.MORE_STAGES)]
    assert list(reported) == labels
    assert all(calls == 0 and nanos == 0 for calls, nanos in reported.values())
