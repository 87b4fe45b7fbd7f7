"""The operator listener: ``/metrics``, ``/healthz`` (alive) and ``/readyz`` (can serve)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.metrics import Metrics
from gateway.store.base import Store, StoreUnavailable


def metrics_app(metrics: Metrics, store: Store) -> web.Application:
    async def scrape(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await store.ping()
        except StoreUnavailable:
            return web.json_response({"status": "not ready", "store": "unreachable"}, status=503)
        return web.json_response({"status": "ready", "store": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
