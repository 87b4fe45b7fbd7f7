"""The gateway as a real OS process (``python -m gateway run``), for signal and worker tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from support.pki import TestPki


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_range(count: int, avoid: int) -> int:
    """A first port of ``count`` consecutive free ports, none of them ``avoid``."""
    for _ in range(100):
        first = free_port()
        if first + count > 65535 or first <= avoid < first + count:
            continue
        if all(_bindable(port) for port in range(first + 1, first + count)):
            return first
    raise RuntimeError("no free port range")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class GatewayProcess:
    def __init__(self, directory: Path, pki: TestPki, upstream_url: str, **settings: Any) -> None:
        self.port = free_port()
        # Worker i serves metrics on metrics_port + i: that small range must be free too.
        self.metrics_port = free_range(4, avoid=self.port)
        config = {
            "listen": {"host": "127.0.0.1", "port": self.port},
            "metrics": {"host": "127.0.0.1", "port": self.metrics_port},
            "tls": {
                "cert": str(pki.server.cert),
                "key": str(pki.server.key),
                "client-ca": str(pki.trust_bundle),
            },
            "upstream": {"url": upstream_url},
            "log-level": "warning",
            **settings,
        }
        self.config_path = directory / "gateway.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = directory / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, *args: str, timeout_s: float = 20.0) -> GatewayProcess:
        command = [sys.executable, "-m", "gateway", "run", "--config", str(self.config_path), *args]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.metrics_port), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway did not start: {self.log_path.read_text()[-2000:]}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
