"""``--workers N``: N gateway processes on one port (SO_REUSEPORT), sharing the store.

The parent only supervises: it starts the workers, forwards SIGTERM (drain) and SIGHUP
(reload) to them, and exits when they have. Each worker serves its own metrics listener on
``metrics.port + index`` (scrape them all; sums add up because every request is counted by
exactly one worker). Shared state must be in Redis: with ``memory://`` each worker keeps its
own counters, which the start-up log says loudly. A built-in sandbox core is started once,
by the parent, so every worker forwards to the same one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from dataclasses import replace
from types import FrameType

from gateway.log import configure_logging, get_logger
from gateway.settings import BUILTIN_SANDBOX, MetricsSettings, Settings


def run_workers(settings: Settings) -> int:
    """Supervise ``settings.lifecycle.workers`` worker processes until they exit."""
    log = get_logger()
    if settings.store.url.startswith("memory://"):
        log.warning(
            "workers_without_shared_store", note="memory:// store: limits and counters are per worker"
        )
    context = multiprocessing.get_context("spawn")
    sandbox = None
    if settings.upstream.url == BUILTIN_SANDBOX:
        port_reader, port_writer = context.Pipe(duplex=False)
        sandbox = context.Process(target=_sandbox_main, args=(settings.log_level, port_writer), daemon=True)
        sandbox.start()
        port = port_reader.recv()
        settings = replace(settings, upstream=replace(settings.upstream, url=f"http://127.0.0.1:{port}"))
    workers = [
        context.Process(target=_worker_main, args=(_for_worker(settings, i),))
        for i in range(settings.lifecycle.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, _frame: FrameType | None) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    # One worker gone means the set is broken (a bind failed, a crash): stop the others and
    # exit with its code, so the orchestrator restarts the whole pod cleanly.
    multiprocessing.connection.wait([w.sentinel for w in workers])
    if any(not w.is_alive() and w.exitcode not in (0, None) for w in workers):
        get_logger().error("worker_exited", codes=[w.exitcode for w in workers if not w.is_alive()])
        forward(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
    if sandbox is not None:
        sandbox.terminate()
    return max((w.exitcode or 0) for w in workers)


def _for_worker(settings: Settings, index: int) -> Settings:
    metrics = settings.metrics
    port = metrics.port + index if metrics.port else 0
    return replace(settings, metrics=MetricsSettings(enabled=metrics.enabled, host=metrics.host, port=port))


def _worker_main(settings: Settings) -> None:
    from gateway.cli import install_uvloop, serve_until_signalled

    configure_logging(settings.log_level)
    install_uvloop()
    asyncio.run(serve_until_signalled(settings))


def _sandbox_main(log_level: str, port_writer: object = None) -> None:
    from gateway.sandbox import start_sandbox

    configure_logging(log_level)

    async def main() -> None:
        server = await start_sandbox()
        if port_writer is not None:
            port_writer.send(server.port)  # type: ignore[attr-defined]
        await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
