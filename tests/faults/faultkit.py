"""Helpers for the fault and scale tests: policy sets on disk, timed TPP calls, log events, load."""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.eidas.issue import IssuedCertificate
from gateway.signatures.sign import sign_request

# ``await gateways(n, upstream_url, **settings)`` -> n started GatewayProcess (conftest ``gateways``).
SpawnGateways = Callable[..., Any]


def write_policies(directory: Path, text: str) -> Path:
    """A one-file policy set in ``directory/policies``; returns the directory to put in settings."""
    policies = directory / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "routes.yaml").write_text(text)
    return policies


def rid() -> str:
    return str(uuid.uuid4())


@dataclass
class Answer:
    """What the TPP saw: status, first Berlin Group code, headers, parsed body, seconds waited."""

    status: int
    code: str
    headers: dict[str, str]
    body: Any
    seconds: float


async def call(
    client: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 10.0,
) -> Answer:
    """One request, timed on the client side from send to the last body byte."""
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with client.request(method, url, headers=headers or {}, data=body, timeout=timeout) as r:
        raw = await r.read()
        seconds = time.perf_counter() - started
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("latin-1")
        messages = payload.get("tppMessages") if isinstance(payload, dict) else None
        code = messages[0].get("code", "") if isinstance(messages, list) and messages else ""
        return Answer(r.status, code, dict(r.headers), payload, seconds)


def sealed_headers(
    seal: IssuedCertificate, target: str, body: bytes, request_id: str | None = None
) -> dict[str, str]:
    """Headers of a request sealed by ``seal`` (draft-cavage, Berlin Group keyId)."""
    headers = {
        "X-Request-ID": request_id or rid(),
        "Date": email.utils.formatdate(usegmt=True),
        "Content-Type": "application/json",
    }
    return {**headers, **sign_request("POST", target, headers, body, key=seal.key, certificate=seal.cert)}


def request_events(log_path: Path) -> list[dict[str, Any]]:
    """The gateway's ``request`` log events, in order (other lines are skipped)."""
    events = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "request":
            events.append(event)
    return events


async def wait_for_events(log_path: Path, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    """Poll the log until it holds ``count`` request events (the process writes asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        events = request_events(log_path)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.05)


async def readyz(metrics_port: int) -> int:
    timeout = aiohttp.ClientTimeout(total=2)
    url = f"http://127.0.0.1:{metrics_port}/readyz"
    async with aiohttp.ClientSession(timeout=timeout) as plain, plain.get(url) as r:
        await r.read()
        return r.status


async def poll(check: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.05) -> float:
    """Seconds until ``check()`` first holds; raises AssertionError after ``timeout_s``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)
    return time.monotonic() - started


@dataclass
class Load:
    """Bounded background load: ``clients`` loops calling ``make()``, within ``max_s``/``max_requests``."""

    make: Callable[[], Awaitable[Answer]]
    clients: int = 4
    max_s: float = 20.0
    max_requests: int = 4000
    pause_s: float = 0.01
    answers: list[tuple[float, Answer]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> Load:
        deadline = time.monotonic() + self.max_s
        self._tasks = [asyncio.create_task(self._loop(deadline)) for _ in range(self.clients)]
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def since(self, t0: float, t1: float = math.inf) -> list[Answer]:
        """Answers to requests sent at or after ``t0`` and answered before ``t1`` (``time.monotonic()``)."""
        return [a for sent, a in self.answers if t0 <= sent and sent + a.seconds < t1]

    async def _loop(self, deadline: float) -> None:
        while (
            not self._stop.is_set() and time.monotonic() < deadline and len(self.answers) < self.max_requests
        ):
            sent = time.monotonic()
            try:
                self.answers.append((sent, await self.make()))
            except (aiohttp.ClientError, TimeoutError) as e:
                self.errors.append(e)
            await asyncio.sleep(self.pause_s)


def percentile(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]
