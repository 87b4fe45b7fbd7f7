"""/readyz: unready while the store is down only when some rule fails closed on it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.process import free_port

from gateway.settings import StoreSettings


@pytest.mark.parametrize(
    ("policy", "status"),
    [("rate-limit: {limits: [{count: 5, per: 1s}]}", 200), ("request-id-replay: {}", 503)],
    ids=["only fail-open rules", "a fail-closed rule"],
)
async def test_readiness_follows_the_rules_fail_modes(
    start: StartGateway, core: RecordingCore, tmp_path: Path, policy: str, status: int
) -> None:
    """A dead Redis makes the gateway unready only if a rule would refuse requests because of it."""
    (tmp_path / "routes.yaml").write_text(
        f"routes:\n  - name: a\n    path: /a\n    policies:\n      - {policy}\n"
    )
    dead = f"redis://127.0.0.1:{free_port()}/0"
    gateway = await start(core.url, policies=tmp_path, store=StoreSettings(url=dead, budget_ms=100))
    async with (
        aiohttp.ClientSession() as plain,
        plain.get(f"http://127.0.0.1:{gateway.metrics_port}/readyz") as r,
    ):
        assert r.status == status
        assert "unreachable" in (await r.json())["store"]
