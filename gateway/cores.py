"""The bank cores behind the gateway, by name: ``default`` (settings ``upstream``) plus ``upstreams``.

A profile picks its core by name (multi-brand, multi-core). ``builtin:sandbox`` starts the
built-in sandbox core in-process once, shared by every name that asks for it; in sandbox mode
every name goes there, whatever is configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError
from gateway.settings import BUILTIN_SANDBOX, Settings, UpstreamSettings
from gateway.tls import client_context
from gateway.upstream import HttpUpstream, HttpUpstreamConfig, Upstream

if TYPE_CHECKING:
    from gateway.sandbox import SandboxServer

DEFAULT = "default"


@dataclass
class Cores:
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    sandbox: SandboxServer | None = None

    async def close(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.close()
        if self.sandbox is not None:
            await self.sandbox.close()
            self.sandbox = None


async def open_cores(settings: Settings, clock: Callable[[], float] = time.time, log: Any = None) -> Cores:
    cores = Cores()
    named: Mapping[str, UpstreamSettings] = {DEFAULT: settings.upstream, **settings.upstreams}
    for name, config in named.items():
        base_url = BUILTIN_SANDBOX if settings.sandbox.enabled else config.url
        if base_url == BUILTIN_SANDBOX:
            base_url = await _sandbox_url(cores, clock, log)
        cores.upstreams[name] = HttpUpstream(_config(config, base_url))
    return cores


def check_profiles_have_cores(profile_cores: set[str], cores: Cores) -> None:
    missing = sorted(profile_cores - set(cores.upstreams))
    if missing:
        known = ", ".join(sorted(cores.upstreams))
        raise GatewayError(f"policies name core {missing[0]!r}, which is not in settings upstreams ({known})")


async def _sandbox_url(cores: Cores, clock: Callable[[], float], log: Any) -> str:
    if cores.sandbox is None:
        from gateway.sandbox import start_sandbox  # only the dev default, demos and tests need it

        cores.sandbox = await start_sandbox(clock=clock)
        if log is not None:
            log.warning(
                "sandbox_core_started", url=cores.sandbox.url, note="built-in sandbox core, not a real bank"
            )
    return cores.sandbox.url


def _config(up: UpstreamSettings, base_url: str) -> HttpUpstreamConfig:
    ssl_context = None
    if base_url.startswith("https://") and (up.ca is not None or up.client_cert is not None):
        ssl_context = client_context(up.ca, up.client_cert, up.client_key)
    return HttpUpstreamConfig(
        base_url=base_url,
        connect_timeout_s=up.connect_timeout_s,
        total_timeout_s=up.total_timeout_s,
        max_connections=up.max_connections,
        max_response_bytes=up.max_response_bytes,
        ssl_context=ssl_context,
    )
