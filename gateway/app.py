"""Assemble and run the gateway: settings -> TLS, store, upstream, policies -> listeners.

App-wide objects live on the aiohttp application under typed keys and are created and
closed in pairs (cleanup contexts), so a test can start and stop a whole gateway in-process.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from gateway.admission import Admission
from gateway.audit import AuditLog
from gateway.consents import ConsentLedger
from gateway.cores import Cores, check_profiles_have_cores, open_cores
from gateway.eidas.devpki import ensure_dev_pki
from gateway.eidas.revocation import RevocationChecker
from gateway.http_connection import Handler
from gateway.identity_setup import IdentityComponents, build_identity
from gateway.listener import serve, serve_tpps
from gateway.log import RequestLog, get_logger
from gateway.metrics import Metrics, RevocationCollector
from gateway.ops import Health, metrics_app
from gateway.pipeline import Pipeline
from gateway.policies import fails_closed_on_store
from gateway.policyset import PolicySet, load_policy_set
from gateway.protection_stats import ProtectionCollector, ProtectionStats
from gateway.redact import KeyedHasher
from gateway.reload import Reloader, watch_files
from gateway.services import Services
from gateway.settings import Settings, TlsSettings
from gateway.store import open_store
from gateway.store.base import Store, StoreUnavailable
from gateway.tls import server_context
from gateway.upstream import Upstream

PIPELINE = web.AppKey("pipeline", Pipeline)
STORE = web.AppKey("store", Store)
CORES = web.AppKey("cores", Cores)
HANDLER: web.AppKey[Handler] = web.AppKey("handler")
METRICS = web.AppKey("metrics", Metrics)
PROTECTION = web.AppKey("protection", ProtectionStats)


def build_app(
    settings: Settings,
    policy_set: PolicySet,
    *,
    cores: Cores,
    store: Store,
    metrics: Metrics,
    identity: IdentityComponents,
    revocation: RevocationChecker | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The TPP-facing application: every request goes to ``Pipeline.handle``."""
    request_log = RequestLog(settings.log_level)
    audit = AuditLog(settings.audit.path) if settings.audit.path is not None else None
    pipeline = Pipeline(
        caller=identity.caller,
        consents=ConsentLedger(store, clock),
        services=Services(identity.seals, audit),
        hasher=KeyedHasher(settings.log_hash_key),
        skipped=frozenset(settings.sandbox.relax) if settings.sandbox.enabled else frozenset(),
        forwarding=identity.forwarding,
        router=policy_set.router,
        upstreams=cores.upstreams,
        store=store,
        metrics=metrics,
        log=request_log,
        clock=clock,
    )
    app = web.Application()
    app[PIPELINE] = pipeline
    app[STORE] = store
    app[CORES] = cores
    app[METRICS] = metrics
    # Admission control: at most protection.max-in-flight requests in the pipeline, the rest queue or get 503.
    app[PROTECTION] = ProtectionStats()
    admission = Admission(settings.protection, app[PROTECTION])
    metrics.registry.register(ProtectionCollector(app[PROTECTION]))
    # Every request goes to the pipeline (see listener.serve_tpps); the app keeps the lifecycle.
    app[HANDLER] = admission.wrap(pipeline.handle)
    app.cleanup_ctx.append(admission.running)
    app.cleanup_ctx.append(_close_on_cleanup)
    app.on_cleanup.append(lambda _app: _flush(request_log))
    if audit is not None:
        app.on_cleanup.append(lambda _app: _close_audit(audit))
    if revocation is not None:
        app.cleanup_ctx.append(_run_revocation(revocation))
    return app


async def _flush(request_log: RequestLog) -> None:
    request_log.flush()


async def _close_audit(audit: AuditLog) -> None:
    audit.close()


def _run_revocation(checker: RevocationChecker) -> Callable[[web.Application], AsyncIterator[None]]:
    """Prefetch the configured CRLs before serving; keep them fresh while running."""

    async def context(_: web.Application) -> AsyncIterator[None]:
        await checker.start()
        yield
        await checker.close()

    return context


async def _close_on_cleanup(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[CORES].close()
    await app[STORE].close()


@dataclass
class RunningGateway:
    """A started gateway; its cores (and a built-in sandbox core) close with the app."""

    settings: Settings
    port: int
    metrics_port: int | None
    runners: list[web.BaseRunner]
    cores: Cores
    reloader: Reloader
    health: Health

    def reload(self) -> bool:
        return self.reloader.reload()

    async def drain(self) -> None:
        """SIGTERM: not ready at once, stop accepting, let in-flight requests finish, then close."""
        self.health.ready = False
        await self.close()

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls.enabled else "http"
        return f"{scheme}://{self.settings.listen.host}:{self.port}"

    async def close(self) -> None:
        runners, self.runners = self.runners, []
        for runner in runners:
            await runner.cleanup()


async def start_gateway(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    upstreams: Mapping[str, Upstream] | None = None,
) -> RunningGateway:
    """Start the listeners described by ``settings`` (port 0 picks a free port)."""
    log = get_logger()
    settings = _with_dev_pki(settings, log)
    if settings.identity.source == "ingress":
        # Behind an ingress every connection comes from the ingress, with the ingress's own
        # certificate if it connects over TLS: per-address and per-certificate caps would cap it.
        log.info(
            "per_client_connection_caps_off", reason="ingress mode: all connections come from the ingress"
        )
        protection = replace(
            settings.protection, max_connections_per_ip=0, max_handshakes_per_ip=0, max_connections_per_tpp=0
        )
        settings = replace(settings, protection=protection)
    policy_set = load_policy_set(settings.policies, max_body_bytes=settings.max_body_bytes)
    ssl_context = None
    if settings.tls.enabled:
        ssl_context = server_context(
            settings.tls.cert,  # type: ignore[arg-type]
            settings.tls.key,  # type: ignore[arg-type]
            settings.tls.client_ca,
            require_client_cert=settings.tls.require_client_cert
            and (not settings.sandbox.enabled or settings.sandbox.require_certificate),
        )
    cores = await open_cores(settings, clock, log) if upstreams is None else Cores(dict(upstreams))
    check_profiles_have_cores({route.profile.upstream for route in policy_set.router.routes}, cores)
    store = open_store(
        settings.store.url,
        budget_ms=settings.store.budget_ms,
        connect_timeout_ms=settings.store.connect_timeout_ms,
    )
    try:
        await store.warm(timeout_s=5.0)
    except StoreUnavailable as e:
        log.warning("store_unavailable_at_start", error=str(e), note="rules follow their fail settings")
    metrics = Metrics()
    metrics.info.labels(str(settings.policies)).set(1)
    metrics.sandbox_mode.set(1 if settings.sandbox.enabled else 0)
    if settings.sandbox.enabled:
        log.warning(
            "SANDBOX_MODE",
            note="sandbox mode is ON: certificate and token checks relaxed, traffic goes to the built-in "
            "sandbox core; never use this in front of a real bank",
            relaxed=settings.sandbox.relax,
        )
    revocation = None
    if settings.identity.revocation.mode != "off":
        revocation = RevocationChecker(settings.identity.revocation, store, clock=clock)
        metrics.registry.register(RevocationCollector(revocation.stats))
    identity = build_identity(settings, revocation, metrics, clock)
    health = Health()
    app = build_app(
        settings,
        policy_set,
        cores=cores,
        store=store,
        metrics=metrics,
        identity=identity,
        revocation=revocation,
        clock=clock,
    )
    reloader = Reloader(settings, app[PIPELINE], identity, cores, metrics)
    health.store_needed = lambda: fails_closed_on_store(app[PIPELINE].router)
    app.cleanup_ctx.append(watch_files(reloader, settings.lifecycle.watch_interval_s))
    # The operator listener first: if its port is taken, start-up fails before the TPP port
    # takes connections (with --workers, a half-started worker would reset the ones it got).
    ops_runner, metrics_port = None, None
    if settings.metrics.enabled:
        ops_runner, metrics_port = await serve(
            metrics_app(metrics, store, health), settings.metrics.host, settings.metrics.port
        )
    runner, port = await serve_tpps(
        app,
        settings.listen.host,
        settings.listen.port,
        handler=app[HANDLER],
        body_limit=app[PIPELINE].body_limit,
        protection=settings.protection,
        stats=app[PROTECTION],
        ssl_context=ssl_context,
        handshake_timeout_s=settings.tls.handshake_timeout_s,
        backlog=settings.listen.backlog,
        shutdown_timeout_s=settings.lifecycle.drain_timeout_s,
        reuse_port=settings.lifecycle.workers > 1,
    )
    # Closed in this order: the TPP listener drains while /readyz still answers "draining".
    runners: list[web.BaseRunner] = [runner]
    if ops_runner is not None:
        runners.append(ops_runner)
    log.info(
        "gateway_started",
        url=f"https://{settings.listen.host}:{port}",
        metrics_port=metrics_port,
        policies=str(settings.policies),
        routes=len(policy_set.router.routes),
        store=settings.store.url.split("@")[-1],
        settings=settings.source,
    )
    health.ready = True
    return RunningGateway(settings, port, metrics_port, runners, cores, reloader, health)


def _with_dev_pki(settings: Settings, log: Any) -> Settings:
    """No TLS material configured: use (and create on first run) the dev PKI."""
    tls = settings.tls
    if (tls.cert is not None and tls.key is not None) or not tls.enabled:
        return settings
    pki = ensure_dev_pki(settings.dev_pki)
    log.warning(
        "dev_pki_in_use", directory=str(settings.dev_pki), note="test certificates, not for production"
    )
    dev_tls = TlsSettings(
        cert=pki.server_cert,
        key=pki.server_key,
        client_ca=tls.client_ca or pki.trust_bundle,
        enabled=tls.enabled,
        require_client_cert=tls.require_client_cert,
        handshake_timeout_s=tls.handshake_timeout_s,
    )
    return replace(settings, tls=dev_tls)
