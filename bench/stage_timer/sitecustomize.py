"""Loaded by the gateway process ``bench/stages.py`` starts (it is first on ``PYTHONPATH``).

When ``PSD2_STAGE_TIMES`` names a file, some functions of the request path are wrapped in a
wall-clock timer (``perf_counter_ns``, about 0.1 µs a call) and the running totals are written
to that file twice a second. The wrapped functions do not wait on I/O, so on a worker that has
its CPU to itself their wall time is their CPU time. Nothing happens without the variable.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

# (module, attribute path, label): synchronous functions, or coroutines that do not suspend
# on a warm path (the QSealC's identity is cached, the token's verification too).
STAGES = (
    ("gateway.pipeline", "Pipeline.run_policies", "policies, all"),
    ("gateway.policies.qseal_signature", "QsealSignaturePolicy.enforce", "qseal-signature"),
    ("gateway.policies.qseal_signature", "cavage.header_index", "  header index"),
    ("gateway.policies.qseal_signature", "cavage.parse_signature", "  Signature parse"),
    ("gateway.policies.qseal_signature", "check_cavage", "  checks and verify"),
    ("gateway.signatures", "verify", "    RSA verify (native)"),
    ("gateway.policies.oauth2_token", "OAuth2TokenPolicy.enforce", "oauth2-token (cached token)"),
    ("gateway.policies.rate_limit", "RateLimitPolicy.enforce", "rate-limit"),
    ("gateway.store.redis", "_encode", "store batch encoding"),
    ("gateway.pipeline", "Pipeline.core_request", "the core's request"),
    ("gateway.pipeline", "Pipeline.answered", "the TPP's answer"),
    ("gateway.recording", "Recorder.record", "metrics and log line"),
)
# The rest of the path, with ``PSD2_STAGE_TIMES_ALL`` set (``stages.py --all``). About 40 timers
# cost the worker 10-20% more CPU, so the nested figures above come out a little higher.
MORE_STAGES = (
    ("gateway.http_connection", "TppConnection.data_received", "TPP data_received (llhttp + head)"),
    ("gateway.http_head", "HeadCollector.header", "  HeadCollector.header"),
    ("gateway.http_head", "HeadCollector.request", "  HeadCollector.request"),
    ("gateway.http_connection", "TppConnection._write", "TPP _write (encode + TLS write)"),
    ("gateway.http_connection", "encode_response", "  encode_response"),
    ("gateway.caller", "CallerIdentifier.identify", "identify (cached QWAC)"),
    ("gateway.pipeline", "parse_target", "parse_target"),
    ("gateway.routes", "Router.match", "Router.match"),
    ("gateway.core_headers", "CoreHeaders.build", "  CoreHeaders.build"),
    ("gateway.upstream", "HttpUpstream._encode", "HttpUpstream._encode"),
    ("gateway.upstream", "HttpUpstream._response", "HttpUpstream._response"),
    ("gateway.core_connection", "CoreConnection.data_received", "core data_received"),
    ("gateway.core_connection", "CoreConnection.send", "core send (write)"),
    ("gateway.store.resp", "_Connection.data_received", "redis data_received"),
    ("gateway.store.resp", "_Connection._flush", "redis flush (write)"),
    ("gateway.store.resp", "_pack", "redis _pack"),
    ("gateway.store.redis", "_decode", "redis _decode"),
    ("gateway.pipeline", "Pipeline._record", "_record"),
    ("gateway.pipeline", "check_framing", "check_framing"),
    ("gateway.pipeline", "Pipeline.apply_brand_registry", "apply_brand_registry"),
    ("gateway.exchange", "Exchange.__init__", "Exchange()"),
    ("gateway.consent_observer", "ConsentObserver.observe", "consent observe"),
    ("gateway.forwarding", "IdentityForwarding.headers", "forwarding.headers"),
    ("gateway.pipeline", "response_headers_for_tpp", "response_headers_for_tpp"),
)


def _timed(fn: Callable[..., Any], totals: list[int]) -> Callable[..., Any]:
    clock = time.perf_counter_ns
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def timed_coroutine(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return await fn(*args, **kwargs)
            finally:
                totals[0] += 1
                totals[1] += clock() - started

        return timed_coroutine

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[0] += 1
            totals[1] += clock() - started

    return timed


def _install(path: str, stages: tuple[tuple[str, str, str], ...]) -> None:
    totals: dict[str, list[int]] = {}
    for module_name, attribute, label in stages:
        owner: Any = importlib.import_module(module_name)
        *parents, name = attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        totals[label] = [0, 0]  # calls, nanoseconds
        setattr(owner, name, _timed(getattr(owner, name), totals[label]))

    def write() -> None:
        while True:
            time.sleep(0.5)
            with open(path + ".tmp", "w") as f:
                json.dump(totals, f)
            os.replace(path + ".tmp", path)

    threading.Thread(target=write, name="stage-times", daemon=True).start()


if os.environ.get("PSD2_STAGE_TIMES"):
    _install(
        os.environ["PSD2_STAGE_TIMES"],
        STAGES + (MORE_STAGES if os.environ.get("PSD2_STAGE_TIMES_ALL") else ()),
    )
