"""The configurations under test, each started as its own process(es) on loopback.

(a) the gateway with the full Berlin Group chain (Redis store); (b) the gateway with no
policies (memory store); (c) the naive aiohttp mTLS proxy; (d) nginx; (e) the core directly.
Several workers are several processes on several ports (the gateway's listener does not set
SO_REUSEPORT); the generator splits its connections across the ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nginx
from material import NO_POLICIES, Material, full_chain_policies, write_gateway_config
from procs import BENCH, PYTHON, Server, free_port, start, wait_port

LABELS = {
    "a": "gateway, full chain",
    "b": "gateway, no policies",
    "c": "naive aiohttp proxy",
    "d": "nginx",
    "e": "core direct (HTTP)",
}


@dataclass
class Target:
    key: str
    ports: list[int]
    servers: list[Server]
    tls: bool = True
    replay: bool = False  # refuses a second use of a request: the pool must not cycle

    @property
    def label(self) -> str:
        return LABELS[self.key]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _gateway_argv(settings: Path) -> list[str]:
    script = Path(PYTHON).parent / "psd2-gateway"
    cli = [str(script)] if script.exists() else [PYTHON, "-m", "gateway"]
    return [*cli, "run", "--config", str(settings)]


def _cpus(worker: int, cpus: list[set[int]] | None) -> set[int] | None:
    return cpus[worker % len(cpus)] if cpus else None


def start_core(log_dir: Path, cpus: set[int] | None, *, sandbox: bool = False) -> tuple[Server, int]:
    port = free_port()
    if sandbox:
        script = Path(PYTHON).parent / "psd2-gateway"
        argv = [str(script), "sandbox-core", "--port", str(port)]
    else:
        argv = [PYTHON, str(BENCH / "core.py"), "--port", str(port)]
    server = start("sandbox-core" if sandbox else "core", argv, log_dir, cpus=cpus, quiet=sandbox)
    wait_port(server, port)
    return server, port


def start_gateway(
    m: Material, key: str, *, store_url: str, core_url: str, workers: int, cpus: list[set[int]] | None
) -> Target:
    policies = full_chain_policies(m) if key == "a" else NO_POLICIES
    ports, servers = [], []
    for w in range(workers):
        port = free_port()
        settings = write_gateway_config(m, key, policies, store_url=store_url, core_url=core_url, port=port)
        argv = _gateway_argv(settings)
        servers.append(start(f"gateway-{key}-{w}", argv, m.directory, cpus=_cpus(w, cpus), quiet=True))
        ports.append(port)
    for server, port in zip(servers, ports, strict=True):
        wait_port(server, port)
    return Target(key, ports, servers, replay=key == "a")


def start_naive(m: Material, *, core_url: str, workers: int, cpus: list[set[int]] | None) -> Target:
    ports, servers = [], []
    for w in range(workers):
        port = free_port()
        argv = [PYTHON, str(BENCH / "naive_proxy.py"), "--port", str(port), "--upstream", core_url]
        argv += ["--cert", str(m.server_cert), "--key", str(m.server_key), "--client-ca", str(m.trust)]
        servers.append(start(f"naive-{w}", argv, m.directory, cpus=_cpus(w, cpus)))
        ports.append(port)
    for server, port in zip(servers, ports, strict=True):
        wait_port(server, port)
    return Target("c", ports, servers)


def start_nginx(m: Material, *, core_port: int, workers: int, cpus: set[int] | None) -> Target | None:
    """nginx with ``workers`` worker processes on one port; None when nginx is not installed."""
    binary = nginx.binary()
    if binary is None:
        return None
    port = free_port()
    conf = nginx.write_config(m, port, core_port, workers)
    server = start("nginx", [binary, "-c", str(conf), "-p", str(conf.parent)], m.directory, cpus=cpus)
    server.has_workers = True
    wait_port(server, port)
    return Target("d", [port], [server])


def core_direct(core: Server, port: int) -> Target:
    return Target("e", [port], [core], tls=False)
