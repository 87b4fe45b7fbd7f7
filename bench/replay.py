"""The gateway's own CPU per request, measured in-process: a steady figure for comparing code changes.

    python bench/replay.py                       # (a), 5 rounds of 6,000 requests, 32 connections
    python bench/replay.py --base HEAD~1         # A/B: the working tree against a git revision
    python bench/replay.py --config b --rounds 7
    python bench/replay.py --gap-ms 2.5 --rounds 3    # lone requests: where one request's time goes

``run.py`` is the system-level truth, but on this 2-vCPU VM one configuration's CPU per request
differs by up to 1.5x between its runs. Here the gateway process itself replays the sealed pool
through its real request path: ``TppConnection`` (llhttp, pipelining, framing), admission, the
pipeline with every policy, the real Redis (the lean client over loopback), the real core over
loopback, metrics and the log line. Only the TLS record layer is left out: requests enter the
connection as plaintext from an in-memory transport that also presents the QWAC as the peer
certificate, which is what the handshake hands the pipeline. ``--connections`` connections each
send their next request when their answer is complete.

Each round is a fresh worker process pinned to CPU 1 (Redis and the core on CPU 0): warm-up,
then the measured requests in chunks of 128, CPU µs per request of each chunk by
``time.process_time`` (Redis and the core are other processes). This VM's speed changes by up
to 2x within seconds (a fixed Python loop takes 70 to 144 ms), and a slow moment only ever adds
time: a round's figure is its fastest tenth of chunks, and the report gives the best round. With
``--base``, rounds of the two revisions alternate. Identical code measured 8% apart this way
(best rounds), where whole-run medians differ by up to 1.5x: only a difference well past
that, agreed by most rounds, is a finding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fleet
import material
import pool as sealed_pool
import profiling
import redis_state
from ab import export
from load import read_pool, response_size
from material import ORG_ID
from procs import PYTHON, free_port

HERE = Path(__file__).resolve()
_TWO_CPUS = (os.cpu_count() or 1) > 1
_CHUNK = 128  # requests per measured chunk: the figure is the fastest tenth of them


class _PeerCertificate:
    """What ``ssl.SSLObject`` tells the pipeline after a handshake: the verified client certificate."""

    def __init__(self, der: bytes) -> None:
        self.der = der

    def getpeercert(self, binary_form: bool = False) -> bytes | dict[str, Any]:
        return self.der if binary_form else {}


class _Transport:
    """An in-memory transport: plaintext in, each complete answer resolves ``answered``."""

    def __init__(self, protocol: Any, peer: _PeerCertificate) -> None:
        self.protocol = protocol
        self.peer = peer
        self.buffer = bytearray()
        self.answered: asyncio.Future[int] | None = None
        self.closed = False

    def write(self, data: bytes) -> None:
        self.buffer += data
        done = response_size(self.buffer)
        if done is not None and self.answered is not None and not self.answered.done():
            size, status = done
            del self.buffer[:size]
            self.answered.set_result(status)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "ssl_object": self.peer}.get(name, default)


async def _replay(
    settings_path: Path,
    requests: list[bytes],
    warmup: int,
    connections: int,
    gap_ms: float | None = None,
    call_tree: bool = False,
) -> dict[str, Any]:
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import load_pem_x509_certificate

    from gateway.app import HANDLER, PIPELINE, PROTECTION, start_gateway
    from gateway.cli import settle_heap
    from gateway.http_server import HttpServer
    from gateway.protection import ConnectionLimits
    from gateway.settings import load_settings

    settings = load_settings(settings_path)
    settings = replace(settings, listen=replace(settings.listen, port=0))  # unused: any free port
    running = await start_gateway(settings)
    settle_heap()  # as ``psd2-gateway run`` does once started: the collector's settings too
    app = running.runners[0].app  # type: ignore[attr-defined]
    server = HttpServer(app[HANDLER], settings.protection, app[PROTECTION], app[PIPELINE].body_limit)
    qwac = Path(os.environ["REPLAY_QWAC"]).read_bytes()  # noqa: ASYNC240 (before any load)
    peer = _PeerCertificate(load_pem_x509_certificate(qwac).public_bytes(Encoding.DER))
    limits = ConnectionLimits(settings.protection, app[PROTECTION])
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()

    def connect(k: int) -> tuple[Any, _Transport]:
        slot = limits.admit(f"127.0.0.{k % 200 + 1}")
        assert slot is not None
        connection = server.connection(slot)
        transport = _Transport(connection, peer)
        connection.connection_made(transport)  # type: ignore[arg-type]
        return connection, transport

    async def drive(connection: Any, transport: _Transport, batch: list[bytes]) -> None:
        for raw in batch:
            transport.answered = loop.create_future()
            connection.data_received(raw)
            status = await transport.answered
            statuses[status] = statuses.get(status, 0) + 1

    open_ = [connect(k) for k in range(connections)]

    async def run(batch: list[bytes]) -> None:
        await asyncio.gather(*(drive(*open_[k], batch[k::connections]) for k in range(connections)))

    if gap_ms is not None:
        try:
            await run(requests[:warmup])
            return await _lone(app[PIPELINE], *open_[0], requests[warmup:], gap_ms, statuses)
        finally:
            for _, transport in open_:
                transport.close()
            await running.close()
    per_chunk: list[float] = []
    tree = None
    try:
        await run(requests[:warmup])
        profiler = _call_tree_profiler() if call_tree else None
        for start in range(warmup, len(requests), _CHUNK):
            batch = requests[start : start + _CHUNK]
            started = time.process_time()
            await run(batch)
            per_chunk.append((time.process_time() - started) / len(batch) * 1e6)
        if profiler is not None:
            profiler.stop()
            tree = profiler.output_text(unicode=True, color=False)
    finally:
        for _, transport in open_:
            transport.close()
        await running.close()
    per_chunk.sort()
    return {
        "cpu_us": per_chunk[len(per_chunk) // 10],
        "median_us": statistics.median(per_chunk),
        "statuses": statuses,
        "call_tree": tree,
    }


def _call_tree_profiler() -> Any:
    """pyinstrument over the whole thread (every connection's task), started after the warm-up.

    In-process, it slows the request path down (the round's figure is not comparable); what it
    adds to py-spy's flat profile is the call tree, with the time awaited shown apart.
    """
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("--call-tree needs pyinstrument (pip install pyinstrument)") from None
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    return profiler


async def _lone(
    pipeline: Any,
    connection: Any,
    transport: _Transport,
    batch: list[bytes],
    gap_ms: float,
    statuses: dict[int, int],
) -> dict[str, Any]:
    """One request at a time, ``gap_ms`` apart: where a lone request's time goes, as in open loop.

    Per request: the wall time from its bytes to its complete answer, this process's CPU
    (the recording after the answer included), the store's and the core's round trips, and
    the rest (wall minus the two round trips: the gateway's own work on the request's path).
    """
    loop = asyncio.get_running_loop()
    store: list[float] = []
    core: list[float] = []
    observe, record = pipeline.decisions.on_round_trip, pipeline.recorder.record

    def store_round_trip(seconds: float) -> None:
        store.append(seconds)
        observe(seconds)

    def recorded(ex: Any, result: Any, ended: float) -> None:
        core.append(result.upstream_seconds)
        record(ex, result, ended)

    pipeline.decisions.on_round_trip, pipeline.recorder.record = store_round_trip, recorded
    wall: list[float] = []
    cpu: list[float] = []
    due = loop.time()
    for raw in batch:
        due += gap_ms / 1000
        await asyncio.sleep(max(due - loop.time(), 0))
        transport.answered = loop.create_future()
        cpu_start, start = time.process_time(), time.perf_counter()
        connection.data_received(raw)
        status = await transport.answered
        wall.append(time.perf_counter() - start)
        await asyncio.sleep(0)  # the metrics and the log line, written after the answer
        cpu.append(time.process_time() - cpu_start)
        statuses[status] = statuses.get(status, 0) + 1
    store_waits = store[-len(batch) :] if store else [0.0] * len(batch)
    core_waits = core[-len(batch) :]
    own = [w - s - c for w, s, c in zip(wall, store_waits, core_waits, strict=True)]

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50_us": ordered[len(ordered) // 2] * 1e6,
            "p99_us": ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] * 1e6,
        }

    return {
        "cpu_us": statistics.median(cpu) * 1e6,
        "lone": {
            "wall": summary(wall),
            "cpu": summary(cpu),
            "store round trip": summary(store_waits),
            "core round trip": summary(core_waits),
            "own (wall - round trips)": summary(own),
        },
        "statuses": statuses,
    }


def worker(args: argparse.Namespace) -> None:
    from gateway.cli import install_uvloop

    requests = read_pool(args.pool)[: args.warmup + args.requests]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the request log, as the bench's gateways write it: to /dev/null
    install_uvloop()
    result = asyncio.run(
        _replay(args.settings, requests, args.warmup, args.connections, args.gap_ms, bool(args.call_tree_out))
    )
    tree = result.pop("call_tree", None)
    if tree and args.call_tree_out:
        args.call_tree_out.write_text(tree)
    os.write(2, (json.dumps(result) + "\n").encode())


def _start(
    args: argparse.Namespace, settings: Path, pool_path: Path, variant: Variant
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if variant.pythonpath:
        env["PYTHONPATH"] = variant.pythonpath
    argv = [PYTHON, str(HERE), "--worker", "--settings", str(settings), "--pool", str(pool_path)]
    argv += ["--requests", str(args.requests), "--warmup", str(args.warmup)]
    argv += ["--connections", str(args.connections)]
    if args.gap_ms is not None:
        argv += ["--gap-ms", str(args.gap_ms)]
    if args.call_tree:
        argv += ["--call-tree-out", str(args.call_tree.with_suffix(f".{variant.name.split()[0]}.txt"))]
    if args.profile:  # py-spy starts the worker and samples it, warm-up included
        spy = profiling.py_spy()
        if spy is None:
            raise SystemExit("--profile needs py-spy (pip install py-spy)")
        out = args.profile.with_suffix(f".{variant.name.split()[0]}.txt")
        argv = [spy, "record", "--rate", "1000", "--format", "raw", "--output", str(out), "--", *argv]
    pin = (lambda: os.sched_setaffinity(0, {1})) if _TWO_CPUS else None  # Redis and the core on CPU 0
    return subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, preexec_fn=pin)


def _round(args: argparse.Namespace, settings: Path, pool_path: Path, variant: Variant) -> dict[str, Any]:
    worker = _start(args, settings, pool_path, variant)
    _, err = worker.communicate(timeout=300)
    lines = err.decode(errors="replace").strip().splitlines()
    if worker.returncode != 0 or not lines:
        raise RuntimeError(f"replay worker failed: {lines[-20:]}")
    result = dict(json.loads(lines[-1]))
    refused = {status: n for status, n in result["statuses"].items() if not status.startswith("2")}
    if refused:  # a refused request costs less than a forwarded one: the figure would flatter
        raise RuntimeError(f"{variant.name}: not every request was forwarded: {refused}")
    return result


@dataclass
class Variant:
    name: str
    pythonpath: str | None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=("a", "b"), default="a", help="full chain (a) or no policies (b)")
    parser.add_argument("--base", help="a git revision to compare the working tree with")
    parser.add_argument(
        "--base-tree", type=Path, help="or a directory holding another gateway/ package (a compiled build)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=6000, help="measured requests per round")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--gap-ms", type=float, help="lone requests this far apart (open loop at low load), not a closed loop"
    )
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of each round to this path")
    parser.add_argument(
        "--call-tree", type=Path, help="pyinstrument's call tree of each round's measured part to this path"
    )
    parser.add_argument("--call-tree-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    work = Path(tempfile.mkdtemp(prefix="psd2-replay-"))
    redis = redis_state.RedisServer()
    core = None
    try:
        m = material.create(work)
        pool_path = sealed_pool.build(m, args.warmup + args.requests, work / "pool.bin")
        ids = redis_state.request_ids(read_pool(pool_path))
        redis.start()
        client = redis.client()
        side = {0} if _TWO_CPUS else None
        if side:
            os.sched_setaffinity(redis.proc.pid, side)  # type: ignore[union-attr]
        core, core_port = fleet.start_core(work, side)
        store = redis.url if args.config == "a" else "memory://"
        policies = material.full_chain_policies(m) if args.config == "a" else material.NO_POLICIES
        core_url = f"http://127.0.0.1:{core_port}"
        settings = material.write_gateway_config(
            m, args.config, policies, store_url=store, core_url=core_url, port=free_port()
        )
        os.environ["REPLAY_QWAC"] = str(m.qwac_cert)
        # The working tree's own directory first on the path: a build in place (``.so`` next to
        # the sources) is what runs, whatever the environment has installed.
        variants = [Variant("working tree", str(HERE.parent.parent))]
        if args.base:
            variants.insert(0, Variant(f"base {args.base}", str(export(args.base, work / "base"))))
        elif args.base_tree:
            variants.insert(0, Variant(f"base {args.base_tree}", str(args.base_tree.resolve())))
        results: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
        for n in range(args.rounds):
            for variant in variants if n % 2 == 0 else variants[::-1]:
                redis_state.clear_request_ids(client, ORG_ID, ids)  # the replay rule forgets the pool
                result = _round(args, settings, pool_path, variant)
                results[variant.name].append(result)
                cpu = f"{result['cpu_us']:6.1f} µs/req"
                print(f"  round {n + 1} {variant.name:>16}: {cpu}  {result['statuses']}", flush=True)
                for part, figures in result.get("lone", {}).items():
                    print(
                        f"      {part:>26}: p50 {figures['p50_us']:7.1f} µs   p99 {figures['p99_us']:7.1f} µs"
                    )
        for name, rounds in results.items():
            cpu = [r["cpu_us"] for r in rounds]
            print(f"{name:>24}: best {min(cpu):6.1f} µs/req  (median of rounds {statistics.median(cpu):.1f})")
        if len(variants) == 2:
            base, new = results[variants[0].name], results[variants[1].name]
            best = min(w["cpu_us"] for w in new) / min(b["cpu_us"] for b in base)
            ratios = [w["cpu_us"] / b["cpu_us"] for b, w in zip(base, new, strict=True)]
            lower = sum(r < 1 for r in ratios)
            print(
                f"{'work / base':>24}: best {best:.3f}, per round {statistics.median(ratios):.3f} "
                f"({lower}/{len(ratios)} rounds lower)"
            )
    finally:
        if core is not None:
            core.stop()
        redis.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
