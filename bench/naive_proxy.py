"""The reference: a naive aiohttp mTLS reverse proxy (no policies, no metrics, no logs).

    python bench/naive_proxy.py --port 9443 --upstream http://127.0.0.1:8081 \
        --cert server.pem --key server-key.pem --client-ca trust.pem

TLS as the gateway does it (client certificate required and chain-validated against the QTSP
bundle), the body read once, hop-by-hop headers dropped, forwarded over one pooled keep-alive
``ClientSession``, the core's answer returned. On uvloop. What every Python proxy pays at least.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl

import aio
import aiohttp
from aiohttp import web

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


def server_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _kept(headers: object) -> dict[str, str]:
    assert hasattr(headers, "items")
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


async def forward(request: web.Request) -> web.Response:
    body = await request.read()
    url = request.app[UPSTREAM] + request.raw_path
    async with request.app[SESSION].request(
        request.method, url, headers=_kept(request.headers), data=body, allow_redirects=False
    ) as answer:
        payload = await answer.read()
        return web.Response(status=answer.status, headers=_kept(answer.headers), body=payload)


async def _session(app: web.Application) -> object:
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
    app[SESSION] = aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    )
    yield
    await app[SESSION].close()


async def serve(args: argparse.Namespace) -> None:
    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    tls = server_context(args.cert, args.key, args.client_ca)
    await web.TCPSite(runner, args.host, args.port, ssl_context=tls, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"naive proxy on https://{args.host}:{args.port} -> {args.upstream}", flush=True)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", required=True)
    aio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
