"""Is a TPP's certificate revoked? CRLs and OCSP behind one call; OCSP answers shared through the store.

``RevocationChecker.status(cert, issuer)`` runs after chain validation: ``issuer`` is the validated
issuer, so the URLs followed come from a certificate that a trusted QTSP signed. The sources of
``mode`` are asked in order, and one that cannot answer hands over to the next:

    crl   a current CRL signed by the issuer, held in memory (``crl.CrlKeeper``)
    ocsp  the in-process cache, then the store, then the responder (``ocsp``)

When none answers, a GOOD status younger than ``max_stale_good_s`` still allows the certificate
(source ``stale-cache``); without one the status is ``unavailable``, which the caller maps to
401 CERTIFICATE_INVALID "revocation status unavailable". Network and parse problems never raise.

Store cache (every replica shares it): key ``psd2:{rev:<issuer key SHA-1 hex>:<serial hex>}:ocsp``,
value ``<g|r|u>:<checked, epoch s>:<nextUpdate, epoch s, 0 = none>``, kept ``max_stale_good_s``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509

from gateway.config import doc
from gateway.eidas import ocsp
from gateway.eidas.crl import CrlKeeper, FetchError, HttpFetcher, distribution_points
from gateway.eidas.ocsp import CachedStatus, OcspError
from gateway.store.base import Read, Store, StoreUnavailable, Write, key

Mode = Literal["off", "crl", "ocsp", "ocsp-then-crl", "crl-then-ocsp"]
_REQUEST_WAIT_MAX_S = 2.0  # a request waits no longer than this for the network, sources combined
_OCSP_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class RevocationConfig:
    mode: Mode = doc("Sources asked in order (a current CRL needs no network).", default="crl-then-ocsp")
    ocsp_timeout_s: float = doc("Longest wait for an OCSP responder.", default=2.0, minimum=0.01, maximum=2)
    ocsp_nonce: bool = doc("Send a nonce (defeats pre-produced answers).", default=False)
    ocsp_max_cache_s: float = doc("Reuse an OCSP answer this long at most.", default=3600.0, minimum=0)
    ocsp_backoff_s: float = doc("Skip a failed responder this long.", default=5.0, minimum=0, maximum=300)
    crl_urls: tuple[str, ...] = doc("CRLs downloaded at start and kept fresh.", default=())
    crl_timeout_s: float = doc("Timeout of one CRL download.", default=10.0, minimum=0.1, maximum=120)
    crl_grace_s: float = doc("Use a CRL this long past nextUpdate.", default=0.0, minimum=0, maximum=86400)
    refresh_fraction: float = doc(
        "Refresh at this part of a CRL's life.", default=0.8, minimum=0.1, maximum=1
    )
    crl_refresh_min_interval_s: float = doc("Download one CRL at most this often.", default=60.0, minimum=0)
    crl_refresh_max_interval_s: float = doc("Download a CRL at least this often.", default=3600.0, minimum=1)
    max_crls: int = doc("Most CRLs held (configured plus met in certificates).", default=64, minimum=1)
    max_stale_good_s: float = doc("If no source answers, allow a GOOD this old.", default=86400.0, minimum=0)
    clock_skew_s: float = doc("Skew allowed on OCSP thisUpdate/nextUpdate.", default=300.0, minimum=0)
    allow_missing_endpoints: bool = doc("Allow a certificate with no CRL or OCSP URL.", default=True)
    cache_entries: int = doc("Most verdicts in the in-process cache.", default=10_000, minimum=1)

    def __post_init__(self) -> None:
        if not 0 < self.ocsp_timeout_s <= 2:
            raise ValueError("ocsp-timeout-s must be more than 0 and at most 2")
        if self.crl_refresh_min_interval_s > self.crl_refresh_max_interval_s:
            raise ValueError("crl-refresh-min-interval-s must not exceed crl-refresh-max-interval-s")


@dataclass(frozen=True)
class RevocationVerdict:
    """The answer for one certificate; ``valid_until`` (epoch s) is how long it may be reused."""

    status: Literal["good", "revoked", "unavailable", "not-checked"]
    source: Literal["crl", "ocsp", "cache", "stale-cache", "none"]
    valid_until: float
    reason: str


@dataclass
class RevocationStats:
    """Plain counters for the metrics exporter; ``crl_last_refresh`` maps CRL URL to epoch s."""

    responder_errors: int = 0
    stale_good_used: int = 0
    crl_refresh_ok: int = 0
    crl_refresh_failed: int = 0
    missing_endpoints: int = 0
    store_errors: int = 0
    ocsp_requests: int = 0
    crl_last_refresh: dict[str, float] = field(default_factory=dict)


class RevocationChecker:
    """Revocation status of TPP certificates; owns its HTTP session and the CRL refresh task."""

    def __init__(
        self, config: RevocationConfig, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.stats = RevocationStats()
        self._store = store
        self._clock = clock
        self._http = HttpFetcher()
        self._crls = CrlKeeper(config, self._http.fetch, clock, self.stats)
        self._local: OrderedDict[str, CachedStatus] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[RevocationVerdict]] = {}
        self._backoff: dict[str, float] = {}  # responder URL -> not asked again before

    async def start(self) -> None:
        """Download the configured CRLs (each within ``crl_timeout_s``), then keep them fresh."""
        if "crl" in self.config.mode:
            await self._crls.start()

    async def close(self) -> None:
        """Stop the refresh task and the requests under way; close the HTTP session."""
        await self._crls.close()
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._http.close()

    async def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationVerdict:
        """Ask the configured sources in order; fall back to a recent GOOD when none answers."""
        if self.config.mode == "off":
            return RevocationVerdict("not-checked", "none", math.inf, "revocation checking is off")
        crl_urls, ocsp_url = distribution_points(cert), ocsp.responder_url(cert)
        sources = [s for s in self.config.mode.split("-then-") if (crl_urls if s == "crl" else ocsp_url)]
        if not sources:
            return self._no_endpoints()
        cache_key = key(f"rev:{ocsp.issuer_key_hash(issuer).hex()}:{cert.serial_number:x}", "ocsp")
        failed: list[RevocationVerdict] = []
        deadline = time.monotonic() + _REQUEST_WAIT_MAX_S
        for i, source in enumerate(sources):
            if source == "crl":  # a CRL download is waited for only when no source comes after
                wait_s = deadline - time.monotonic() if i == len(sources) - 1 else 0.0
                verdict = await self._by_crl(cert, issuer, crl_urls, cache_key, wait_s)
            else:
                verdict = await self._by_ocsp(cert, issuer, ocsp_url or "", cache_key)
            if verdict.status != "unavailable":
                return verdict
            failed.append(verdict)
        answered = [v for v in failed if v.source != "none"]  # the responder said "unknown"
        return answered[0] if answered else self._stale_good(cache_key, failed[-1])

    async def _by_crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, urls: list[str], cache_key: str, wait_s: float
    ) -> RevocationVerdict:
        found = self._crls.lookup(cert, urls, issuer)
        if found is None:  # start the download (the next request may use it) and wait up to wait_s
            await self._crls.fetch(urls, min(self.config.crl_timeout_s, wait_s))
            found = self._crls.lookup(cert, urls, issuer)
        if found is None:
            return RevocationVerdict(
                "unavailable", "none", self._clock(), "no current CRL signed by the issuer"
            )
        status, valid_until = found
        self._put_local(cache_key, CachedStatus(status, self._clock(), valid_until))
        return RevocationVerdict(status, "crl", valid_until, f"CRL says {status}")

    async def _by_ocsp(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, cache_key: str
    ) -> RevocationVerdict:
        now = self._clock()
        cached = self._local.get(cache_key)
        if cached is None or now >= self._valid_until(cached):
            cached = await self._read_shared(cache_key)
        if cached is not None and now < self._valid_until(cached):
            return self._verdict(cached, "cache")
        if self._backoff.get(url, 0.0) > now:
            return RevocationVerdict("unavailable", "none", now, "OCSP responder failed recently")
        return await self._once(cache_key, lambda: self._ask(cert, issuer, url, cache_key))

    async def _ask(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, cache_key: str
    ) -> RevocationVerdict:
        nonce = ocsp.new_nonce() if self.config.ocsp_nonce else None
        self.stats.ocsp_requests += 1
        try:
            request = ocsp.build_request(cert, issuer, nonce)
            data = await self._http.fetch(
                url, self.config.ocsp_timeout_s, body=request, limit=_OCSP_MAX_BYTES
            )
            skew = self.config.clock_skew_s
            answer = ocsp.check_response(data, cert, issuer, now=self._clock(), skew_s=skew, nonce=nonce)
        except (FetchError, OcspError, ValueError) as e:
            self.stats.responder_errors += 1
            self._backoff[url] = self._clock() + self.config.ocsp_backoff_s
            return RevocationVerdict("unavailable", "none", self._clock(), f"OCSP: {e}")
        self._backoff.pop(url, None)
        cached = CachedStatus(answer.status, self._clock(), answer.next_update)
        await self._write_shared(cache_key, cached)
        return self._verdict(cached, "ocsp")

    async def _once(
        self, cache_key: str, ask: Callable[[], Awaitable[RevocationVerdict]]
    ) -> RevocationVerdict:
        """One responder request per certificate at a time; concurrent callers share its answer."""
        task = self._inflight.get(cache_key)
        if task is None:
            task = self._inflight[cache_key] = asyncio.ensure_future(ask())
            task.add_done_callback(lambda _: self._inflight.pop(cache_key, None))
        return await asyncio.shield(task)

    def _stale_good(self, cache_key: str, failure: RevocationVerdict) -> RevocationVerdict:
        cached, now = self._local.get(cache_key), self._clock()
        if cached is None or cached.status != "good" or now - cached.checked > self.config.max_stale_good_s:
            return failure
        self.stats.stale_good_used += 1
        until = min(cached.checked + self.config.max_stale_good_s, now + self.config.ocsp_backoff_s)
        return RevocationVerdict("good", "stale-cache", until, f"last known good; {failure.reason}")

    def _no_endpoints(self) -> RevocationVerdict:
        self.stats.missing_endpoints += 1
        allow = self.config.allow_missing_endpoints
        until = math.inf if allow else self._clock()
        reason = "certificate names no CRL or OCSP URL"
        return RevocationVerdict("not-checked" if allow else "unavailable", "none", until, reason)

    def _valid_until(self, cached: CachedStatus) -> float:
        limit = cached.checked + self.config.ocsp_max_cache_s
        return limit if cached.next_update is None else min(limit, cached.next_update)

    def _verdict(self, cached: CachedStatus, source: Literal["ocsp", "cache"]) -> RevocationVerdict:
        status = "unavailable" if cached.status == "unknown" else cached.status
        return RevocationVerdict(status, source, self._valid_until(cached), f"OCSP says {cached.status}")

    def _put_local(self, cache_key: str, cached: CachedStatus) -> None:
        self._local[cache_key] = cached
        self._local.move_to_end(cache_key)
        if len(self._local) > self.config.cache_entries:
            self._local.popitem(last=False)

    async def _read_shared(self, cache_key: str) -> CachedStatus | None:
        """The newer of the store's and the in-process entry (the store's is kept in process)."""
        local = self._local.get(cache_key)
        try:
            (outcome,) = await self._store.run([Read(cache_key)], self._now_ms())
        except StoreUnavailable:
            self.stats.store_errors += 1
            return local
        shared = CachedStatus.decode(outcome.value) if outcome.value else None
        if shared is not None and (local is None or shared.checked > local.checked):
            self._put_local(cache_key, shared)
            return shared
        return local

    async def _write_shared(self, cache_key: str, cached: CachedStatus) -> None:
        self._put_local(cache_key, cached)
        ttl_s = max(self.config.max_stale_good_s, self.config.ocsp_max_cache_s)
        try:
            await self._store.run(
                [Write(cache_key, cached.encode(), math.ceil(ttl_s * 1000))], self._now_ms()
            )
        except StoreUnavailable:
            self.stats.store_errors += 1

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
