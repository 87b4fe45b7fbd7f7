"""THE request path. ``Pipeline.handle`` reads top to bottom:

identify the TPP -> check the target and find the route -> read the body once -> run the
route's policies in order -> decide their store operations in one round trip -> forward
to the core -> answer the TPP -> record metrics and one log event (once the answer has left).

A ``Reject`` raised anywhere leaves through the same exit as a forwarded response.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway import render
from gateway.caller import CallerIdentifier, effective_roles
from gateway.consent_observer import ConsentObserver
from gateway.consents import ConsentLedger
from gateway.decisions import StoreDecisions
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.forwarding import IdentityForwarding
from gateway.headers import response_headers_for_tpp
from gateway.http_request import IncomingRequest
from gateway.local_answers import LOCAL_ANSWERS
from gateway.log import get_logger
from gateway.metrics import Metrics
from gateway.policies.request_id import UUID
from gateway.profiles import DEFAULT_PROFILE, Profile
from gateway.recording import Recorder, Result
from gateway.redact import KeyedHasher
from gateway.routes import Router
from gateway.services import Services
from gateway.store.base import Store, StoreUnavailable
from gateway.target import Target, parse_target
from gateway.translate import translate_core_error
from gateway.upstream import Upstream, UpstreamRequest, UpstreamResponse

_NO_TARGET = Target("", "")
_UPSTREAM_CODES = (Code.BAD_GATEWAY, Code.GATEWAY_TIMEOUT)


class Pipeline:
    def __init__(
        self,
        *,
        caller: CallerIdentifier,
        router: Router,
        upstreams: Mapping[str, Upstream],
        store: Store,
        metrics: Metrics,
        log: Any,
        forwarding: IdentityForwarding,
        consents: ConsentLedger,
        services: Services,
        clock: Callable[[], float] = time.time,
        hasher: KeyedHasher | None = None,
        skipped: frozenset[str] = frozenset(),
    ) -> None:
        self.skipped = skipped  # sandbox mode: the relaxed policies
        self.recorder = Recorder(metrics, log, hasher or KeyedHasher())
        self.services = services
        self.consents = consents
        self.consent_observer = ConsentObserver(consents)
        self.caller = caller
        self.router = router
        self.upstreams = upstreams
        self.metrics = metrics
        self.forwarding = forwarding
        self.clock = clock
        self.decisions = StoreDecisions(
            store, on_unavailable=self._count_store_error, on_round_trip=metrics.store_seconds.observe
        )
        self._body_limit: tuple[Router | None, int] = (None, 0)

    def body_limit(self) -> int:
        """The largest body any route accepts (the connection buffers no more than that)."""
        router, limit = self._body_limit
        if router is not self.router:  # reloaded
            limit = max((route.max_body_bytes for route in self.router.routes), default=0)
            self._body_limit = (self.router, limit)
        return limit

    async def handle(self, request: IncomingRequest) -> Result:
        ex = Exchange(
            method=request.method,
            target=_NO_TARGET,
            headers=request.headers,
            peer_ip=request.peer_ip,
            started=time.perf_counter(),
            now_ms=int(self.clock() * 1000),
            services=self.services,
        )
        try:
            check_framing(request)
            await self.identify(request, ex)
            ex.target = parse_target(request.raw_path)
            ex.route = self.router.match(ex.method, _host(request), ex.target.path)
            self.apply_brand_registry(ex)
            ex.body = await read_body(request, ex.route.max_body_bytes)
            await self.load_consent(ex)
            await self.run_policies(ex)
            await self.decisions.decide(ex)
            result = await self.answer(ex)
        except Reject as reject:
            result = self.rejected(ex, reject)
        # Metrics and the log line wait until the answer has left: the callback runs after this
        # task step, which is the one that writes the answer (nginx's log phase, the same idea).
        asyncio.get_running_loop().call_soon(self._record, ex, result, time.perf_counter())
        # The store decisions' judges close over ``ex``: without them it is freed by reference
        # counting now instead of waiting for the cyclic collector.
        ex.deferred.clear()
        return result

    def _record(self, ex: Exchange, result: Result, ended: float) -> None:
        """Metrics and the log line. A failure here is the gateway's own bug, after the answer:
        it is logged like the others (the loop's default handler would print it unstructured)."""
        try:
            self.recorder.record(ex, result, ended)
        except Exception:
            get_logger().exception("recording_failed", request_id=ex.request_id or None)

    async def identify(self, request: IncomingRequest, ex: Exchange) -> None:
        caller = await self.caller.identify(request)
        ex.identity, ex.registration, ex.roles = caller.identity, caller.registration, caller.roles

    def apply_brand_registry(self, ex: Exchange) -> None:
        """A brand with its own TPP registry sees the TPP through it."""
        assert ex.route is not None and ex.identity is not None
        registry = ex.route.profile.registry
        if registry is not None:
            ex.registration = registry.current.lookup(ex.identity.tpp.organization_id)
            ex.roles = effective_roles(ex.identity, ex.registration)

    async def answer(self, ex: Exchange) -> Result:
        """The core's answer, or the gateway's own for routes declared with ``answer:``."""
        assert ex.route is not None
        if ex.route.answer is not None:
            return LOCAL_ANSWERS[ex.route.answer](ex, self.router)
        return await self.forward(ex)

    def _count_store_error(self, decision: str) -> None:
        self.metrics.store_errors.labels(decision).inc()

    async def load_consent(self, ex: Exchange) -> None:
        """The facts of the request's consent, for routes whose policies use them."""
        ex.consent_id = ex.headers.get("Consent-ID", "")
        if ex.route is not None and ex.route.needs_consent and ex.consent_id:
            try:
                ex.consent = await self.consents.facts(ex.consent_id)
            except StoreUnavailable:
                # The decision would wait out a second budget on the same dead store: skip it.
                ex.store_unavailable = True

    async def run_policies(self, ex: Exchange) -> None:
        assert ex.route is not None
        for bound in ex.route.policies:
            if bound.name in self.skipped:
                continue
            ex.current = bound
            try:
                await bound.policy.enforce(ex)
            except Reject as reject:
                reject.rule = reject.rule or bound.name
                if bound.mode == "enforce":
                    raise
                ex.shadow_rejections.append(reject)
        ex.current = None

    async def forward(self, ex: Exchange) -> Result:
        assert ex.route is not None
        profile = ex.route.profile
        request = self.core_request(ex, profile)
        sent = time.perf_counter()
        response = await self.upstreams[profile.upstream].send(request)
        seconds = time.perf_counter() - sent
        await self.consent_observer.observe(ex, response)
        return self.answered(ex, response, seconds)

    def core_request(self, ex: Exchange, profile: Profile) -> UpstreamRequest:
        """What the core receives: clean headers, the profile's translation, then the gateway's own."""
        forwarding = self.forwarding
        headers = profile.request_headers.build(ex, forwarding.headers(ex), forwarding.always_drop)
        target = profile.core_target(ex.target.path, ex.target.query)
        timeouts = (profile.connect_timeout_s, profile.total_timeout_s)
        return UpstreamRequest(ex.method, target, headers, ex.body, *timeouts)

    def answered(self, ex: Exchange, response: UpstreamResponse, seconds: float) -> Result:
        assert ex.route is not None
        profile = ex.route.profile
        headers = profile.response_headers.apply(response_headers_for_tpp(response.headers.items()), ex)
        headers.update(ex.response_headers)
        body = response.body
        if response.status >= 400 and profile.translate_core_errors:
            body = translate_core_error(profile, response.status, body, headers)
        elif profile.response_content_type and "json" in headers.get("Content-Type", ""):
            headers["Content-Type"] = profile.response_content_type
        body = self.forwarding.warn_on_expiry(ex, body, headers.get("Content-Type", ""))
        return Result(response.status, headers, body, "forwarded", upstream_seconds=seconds)

    def rejected(self, ex: Exchange, reject: Reject) -> Result:
        outcome = "upstream_error" if reject.code in _UPSTREAM_CODES else "rejected"
        if not ex.request_id:
            # Refused before the request-id rule ran (identity, target, route): still joinable on the id.
            candidate = ex.headers.get("X-Request-ID", "")
            if UUID.match(candidate):
                ex.request_id = candidate
                ex.response_headers.setdefault("X-Request-ID", candidate)
        profile = ex.route.profile if ex.route is not None else DEFAULT_PROFILE
        headers = render.error_headers(reject, ex.response_headers, profile.dialect)
        profile.response_headers.echo_into(headers, ex)
        return Result(reject.status, headers, render.error_body(reject, profile.dialect), outcome, reject)


def check_framing(request: IncomingRequest) -> None:
    """HTTP/1.x only, and no framing a stricter hop could read differently (RFC 9112 6.1, 6.3)."""
    major, minor = request.version
    if major != 1:
        request.keep_alive = False
        raise Reject(Code.FORMAT_ERROR, "Only HTTP/1.1 is served here.", status=505, rule="framing")
    encodings = request.headers.getall("Transfer-Encoding", [])
    if encodings and (minor == 0 or [e.strip().lower() for e in encodings] != ["chunked"]):
        request.keep_alive = False  # the message's end is unknown (RFC 9112 6.1): close after the answer
        raise Reject(
            Code.FORMAT_ERROR, "Transfer-Encoding must be exactly 'chunked' on HTTP/1.1.", rule="framing"
        )


async def read_body(request: IncomingRequest, limit: int) -> bytes:
    """The request body as received on the wire, read once and bounded (413 above ``limit``).

    Bodies are never decompressed: a digest or signature is computed over the wire bytes,
    so an encoded body is refused rather than forwarded on an unverifiable basis.
    """
    if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        raise Reject(Code.FORMAT_ERROR, "Content-Encoding is not supported on requests.", status=415)
    return await request.read_body(limit)


def _host(request: IncomingRequest) -> str | None:
    host = request.headers.get("Host")
    if not host:
        return None
    if host.startswith("["):
        return host.partition("]")[0][1:].lower()
    return host.rpartition(":")[0].lower() if ":" in host else host.lower()
