"""The operator listener: ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (can serve)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.metrics import Metrics
from gateway.store.base import Store, StoreUnavailable


@dataclass
class Health:
    """Readiness the operator listener reports: false before start and from SIGTERM on.

    ``store_needed`` says whether some rule fails closed on the store: only then does an
    unreachable store make the gateway unready (fail-open rules keep serving on local limits).

    Revocation freshness is deliberately not part of readiness. A stale CRL or a silent OCSP
    responder is the same for every replica, so readiness would take the whole fleet out of
    service at once. The alerts ``PSD2GatewayCrlStale`` and ``PSD2GatewayRevocationDegraded``
    report it instead, and the certificates concerned are refused, never accepted unchecked.
    """

    ready: bool = False
    store_needed: Callable[[], bool] = lambda: True


def metrics_app(metrics: Metrics, store: Store, health: Health | None = None) -> web.Application:
    health = health or Health(ready=True)

    async def scrape(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        if not health.ready:
            return web.json_response({"status": "not ready", "reason": "starting or draining"}, status=503)
        try:
            await store.ping()
        except StoreUnavailable:
            if health.store_needed():
                return web.json_response({"status": "not ready", "store": "unreachable"}, status=503)
            return web.json_response({"status": "ready", "store": "unreachable (no rule fails closed)"})
        return web.json_response({"status": "ready", "store": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
