"""Reloading without dropping a request: policies, TPP registry and trust store, swapped whole.

Each piece is loaded and validated completely first; only then is the old one replaced by a
single attribute assignment, so a request in flight finishes on the version it started with
and an invalid change leaves the running version in force (with a metric and a log line).
Counters live in the store, so they survive a reload. Triggered by SIGHUP and by a change of
the policy files (checked on a timer).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from gateway.config import ConfigError
from gateway.cores import Cores, check_profiles_have_cores
from gateway.eidas.validate import load_certificates
from gateway.errors import GatewayError
from gateway.identity_setup import IdentityComponents
from gateway.log import get_logger
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.policyset import load_policy_set
from gateway.settings import Settings


class Reloader:
    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        identity: IdentityComponents,
        cores: Cores,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.identity = identity
        self.cores = cores
        self.metrics = metrics
        self.log = get_logger()
        self._policy_stamp = self._stamp()

    def reload(self) -> bool:
        """Reload everything reloadable; True when all of it succeeded."""
        results = [self.reload_policies(), self.reload_registry(), self.reload_trust()]
        return all(results)

    def reload_policies(self) -> bool:
        def load() -> None:
            policy_set = load_policy_set(self.settings.policies, max_body_bytes=self.settings.max_body_bytes)
            check_profiles_have_cores({r.profile.upstream for r in policy_set.router.routes}, self.cores)
            self.pipeline.router = policy_set.router
            self._policy_stamp = self._stamp()

        return self._attempt("policies", load)

    def reload_registry(self) -> bool:
        def load() -> None:
            holder = self.identity.registry
            if holder.path is not None:
                holder.reload_if_changed(force=True)

        return self._attempt("registry", load)

    def reload_trust(self) -> bool:
        def load() -> None:
            anchors_path = self.settings.identity.trust_anchors or self.settings.tls.client_ca
            if anchors_path is None:
                return
            intermediates = self.settings.identity.intermediates
            validator = self.identity.identities.validator.with_trust(
                load_certificates(anchors_path), load_certificates(intermediates) if intermediates else []
            )
            for service in (self.identity.identities, self.identity.seals):
                service.validator = validator
                service.forget_all()

        return self._attempt("trust", load)

    def policies_changed(self) -> bool:
        return self._stamp() != self._policy_stamp

    def _attempt(self, what: str, load: Callable[[], None]) -> bool:
        try:
            load()
        except (ConfigError, GatewayError, OSError) as e:
            self.metrics.reloads.labels(what, "failure").inc()
            self.log.error("reload_refused", what=what, error=str(e))
            return False
        self.metrics.reloads.labels(what, "success").inc()
        self.log.info("reloaded", what=what)
        return True

    def _stamp(self) -> tuple[tuple[str, int], ...]:
        directories = (
            self.settings.policies if isinstance(self.settings.policies, list) else [self.settings.policies]
        )
        stamps: list[tuple[str, int]] = []
        for directory in directories:
            with contextlib.suppress(OSError):
                stamps.extend((str(p), p.stat().st_mtime_ns) for p in sorted(Path(directory).iterdir()))
        return tuple(stamps)


def watch_files(reloader: Reloader, interval_s: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """Reload the policies when their files change, and the registry when its file does."""

    async def watch() -> None:
        while True:
            await asyncio.sleep(interval_s)
            if reloader.policies_changed():
                reloader.reload_policies()
            holder = reloader.identity.registry
            if holder.changed():
                reloader.reload_registry()

    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(watch())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
