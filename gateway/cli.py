"""``psd2-gateway``: run the gateway, issue test certificates, check policies, run the sandbox core."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from gateway.eidas.cli import add_certs_parser, run_certs
from gateway.errors import GatewayError
from gateway.log import configure_logging, get_logger
from gateway.policylint import lint
from gateway.policyset import load_policy_set
from gateway.report.cli import add_report_parser
from gateway.settings import Settings, load_settings
from gateway.signatures.cli import add_sign_parser, run_sign


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except GatewayError as e:
        print(f"psd2-gateway: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psd2-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the gateway (embedded dev default when nothing is configured)")
    run.add_argument("--config", type=Path, default=_env_path("PSD2GW_CONFIG"), help="settings YAML file")
    run.add_argument(
        "--workers", type=int, default=None, help="processes sharing the port (lifecycle.workers)"
    )
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate settings and the policy set, then exit")
    check.add_argument("--config", type=Path, default=_env_path("PSD2GW_CONFIG"))
    check.set_defaults(handler=_check_config)

    policies = commands.add_parser("policies", help="policy set tools")
    policy_commands = policies.add_subparsers(dest="policies_command", required=True)
    policies_check = policy_commands.add_parser(
        "check", help="validate a policy set (one or more directories)"
    )
    policies_check.add_argument("directory", type=Path, nargs="+")
    policies_check.add_argument("--quiet", action="store_true", help="print findings only")
    policies_check.set_defaults(handler=_policies_check)
    explain = policy_commands.add_parser("explain", help="show what a policy set does with one request")
    explain.add_argument("directory", type=Path, nargs="+")
    explain.add_argument("--method", default="GET")
    explain.add_argument("--path", required=True, help="path and query, e.g. /v1/accounts?withBalance=true")
    explain.add_argument("-H", "--header", action="append", default=[], help="'Name: value' (repeatable)")
    explain.add_argument("--body", default="", help="request body")
    explain.add_argument("--host", default=None, help="Host the request is for (brand routing)")
    explain.add_argument("--tpp", default="PSDBE-NBB-0123456789", help="the TPP's organizationIdentifier")
    explain.add_argument("--roles", default="PSP_AS,PSP_PI,PSP_AI,PSP_IC", help="the TPP's PSD2 roles")
    explain.add_argument(
        "--consent",
        default="",
        help="assumed consent: recurring=,frequency=,valid-until=,sca-minutes-ago=,status=",
    )
    explain.add_argument(
        "--prior", type=int, default=0, help="identical requests already made (a minute apart)"
    )
    explain.add_argument("--now", default=None, help="ISO-8601 time of the request (default: now)")
    explain.set_defaults(handler=_policies_explain)

    sandbox = commands.add_parser("sandbox-core", help="run the built-in sandbox bank core (plain HTTP)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.set_defaults(handler=_sandbox_core)

    add_certs_parser(commands)
    commands.choices["certs"].set_defaults(handler=run_certs)
    add_sign_parser(commands)
    commands.choices["sign"].set_defaults(handler=run_sign)
    add_report_parser(commands)
    return parser


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.workers is not None:
        settings = replace(settings, lifecycle=replace(settings.lifecycle, workers=args.workers))
    configure_logging(settings.log_level)
    if settings.lifecycle.workers > 1:
        from gateway.workers import run_workers

        return run_workers(settings)
    install_uvloop()
    asyncio.run(serve_until_signalled(settings))
    return 0


# Young collections every 7,000 net allocations instead of 700. A request allocates a few
# hundred container objects, nearly all freed by reference counting, so a young collection
# mostly walks the live objects of the requests in flight: ten times fewer of them cost about
# a fourth (measured under the bench's full chain: 7-11 -> 2 µs of collector time per request,
# each collection ~0.15 ms). Cyclic garbage waits a little longer: a few thousand objects.
YOUNG_COLLECTION_THRESHOLD = 7_000


def settle_heap() -> None:
    """Move everything built so far out of the cyclic collector's sight (``gc.freeze``).

    A full collection walks every tracked object: with the libraries, trust store and policy
    set loaded that is ~70,000 objects and ~45 ms on a 2-vCPU VM, a pause on every request in
    flight whenever it runs under load. Start-up objects live as long as the process, so they
    are frozen; per-request objects are still collected, young ones less often.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


async def serve_until_signalled(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT (drain, then exit); SIGHUP reloads policies, registry, trust."""
    from gateway.app import start_gateway  # imported late: keeps `certs` and `policies` light

    gateway = await start_gateway(settings)
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def reload() -> None:
        gateway.reload()
        settle_heap()

    loop.add_signal_handler(signal.SIGHUP, reload)
    print(f"psd2-gateway listening on {gateway.url} (metrics on port {gateway.metrics_port})", flush=True)
    await stop.wait()
    get_logger().info("gateway_draining", timeout_s=settings.lifecycle.drain_timeout_s)
    await gateway.drain()
    get_logger().info("gateway_stopped")


def _check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    policy_set = load_policy_set(settings.policies, max_body_bytes=settings.max_body_bytes)
    routes = len(policy_set.router.routes)
    print(f"ok: settings from {settings.source}; {routes} routes from {settings.policies}")
    return 0


def _policies_check(args: argparse.Namespace) -> int:
    policy_set = load_policy_set(args.directory, max_body_bytes=1024 * 1024)
    if not args.quiet:
        for route in policy_set.router.routes:
            names = ", ".join(b.name + (" (shadow)" if b.mode == "shadow" else "") for b in route.policies)
            methods = " ".join(sorted(route.methods))
            print(f"{route.name}: {methods} {route.path_template} -> {names or 'no policies'}")
    findings = lint(policy_set)
    for finding in findings:
        print(finding)
    errors = sum(1 for f in findings if f.level == "error")
    routes, files = len(policy_set.router.routes), len(policy_set.files)
    print(f"{'ok' if not errors else 'failed'}: {routes} routes in {files} files, {len(findings)} findings")
    return 1 if errors else 0


def _policies_explain(args: argparse.Namespace) -> int:
    import datetime as dt

    from gateway.eidas.oids import Role
    from gateway.explain import Assumed, explain, parse_headers, parse_pairs

    policy_set = load_policy_set(args.directory, max_body_bytes=1024 * 1024)
    now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
    try:
        request = Assumed(
            method=args.method.upper(),
            path=args.path,
            headers=parse_headers(args.header),
            body=args.body.encode(),
            host=args.host,
            tpp=args.tpp,
            roles=frozenset(Role.parse(r) for r in args.roles.split(",") if r.strip()),
            consent=parse_pairs(args.consent),
            prior=args.prior,
            now_ms=int(now.timestamp() * 1000),
        )
    except ValueError as e:
        print(f"psd2-gateway: {e}", file=sys.stderr)
        return 2
    print(asyncio.run(explain(policy_set, request)).render())
    return 0


def _sandbox_core(args: argparse.Namespace) -> int:
    from gateway.sandbox import run_sandbox

    configure_logging("info")
    run_sandbox(args.host, args.port)
    return 0


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    raise SystemExit(main())
