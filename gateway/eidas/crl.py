"""CRLs (RFC 5280 clause 5): downloaded by URL, kept fresh by one background task, read from memory.

One slot per distribution-point URL: the configured ones are fetched at ``start()`` and kept; one met
in a certificate joins when asked for, up to ``max_crls`` (the least recently used one makes room).
A CRL is fetched again at ``refresh_fraction`` of its thisUpdate..nextUpdate, within the min and max
refresh intervals of the last fetch; after a failure, the min interval later.

A CRL answers only when (RFC 5280 clause 6.3.3) its issuer name is the issuer's subject, the issuer
may sign CRLs (cRLSign), its signature verifies with the issuer's key (checked once per CRL and issuer)
and now lies within thisUpdate..nextUpdate, give or take ``crl_grace_s``. Otherwise the caller moves on.

``HttpFetcher`` is the network seam: CRL downloads and OCSP requests both go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

if TYPE_CHECKING:
    from gateway.eidas.revocation import RevocationConfig, RevocationStats

Fetch = Callable[[str, float], Awaitable[bytes]]
"""Download a URL within a timeout (seconds); raise ``FetchError`` on any failure."""

CrlStatus = Literal["good", "revoked"]

_SIGNING_KEYS = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
_CRL_MAX_BYTES = 64 * 1024 * 1024
# The loop reads the clock at least this often, so a wall-clock jump (or a test's clock) is noticed.
_MAX_SLEEP_S = 1.0


class FetchError(Exception):
    """A download failed: connection, timeout, HTTP status or size."""


@dataclass(slots=True)
class ParsedCrl:
    """A CRL with its revoked serials in a set and its times in epoch seconds."""

    crl: x509.CertificateRevocationList
    revoked: frozenset[int]
    this_update: float
    next_update: float
    signed_by: dict[bytes, bool] = field(default_factory=dict)  # issuer fingerprint -> verdict


@dataclass(slots=True)
class _Slot:
    url: str
    pinned: bool
    parsed: ParsedCrl | None = None
    due: float = 0.0
    used: float = 0.0
    task: asyncio.Task[None] | None = None


def distribution_points(cert: x509.Certificate) -> list[str]:
    """The http(s) URLs of the certificate's CRL distribution points (LDAP ones are skipped)."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    names = [name for point in points for name in point.full_name or ()]
    return [name.value for name in names if _is_http_uri(name)]


def parse_crl(data: bytes) -> ParsedCrl:
    """A DER CRL; raise ``ValueError`` when it is malformed or has no nextUpdate."""
    crl = x509.load_der_x509_crl(data)
    if crl.next_update_utc is None:
        raise ValueError("CRL without nextUpdate")
    revoked = frozenset(entry.serial_number for entry in crl)
    return ParsedCrl(crl, revoked, crl.last_update_utc.timestamp(), crl.next_update_utc.timestamp())


def signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` issued ``crl``: same name, cRLSign allowed, signature valid."""
    if crl.issuer != issuer.subject:
        return False
    with contextlib.suppress(x509.ExtensionNotFound):
        if not issuer.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign:
            return False
    key = issuer.public_key()
    return isinstance(key, _SIGNING_KEYS) and crl.is_signature_valid(key)


class CrlKeeper:
    """The CRL slots and the background task that keeps them fresh."""

    def __init__(
        self, config: RevocationConfig, fetch: Fetch, clock: Callable[[], float], stats: RevocationStats
    ) -> None:
        self._config = config
        self._fetch = fetch
        self._clock = clock
        self._stats = stats
        self._slots = {url: _Slot(url, pinned=True) for url in config.crl_urls}
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fetch the configured CRLs (a failure is counted and retried), then start the refresh task."""
        await asyncio.gather(*self.want(self._slots))
        if self._loop is None:
            self._loop = asyncio.create_task(self._run())

    async def close(self) -> None:
        tasks = [t for t in (self._loop, *(s.task for s in self._slots.values())) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop = None

    def lookup(
        self, cert: x509.Certificate, urls: Iterable[str], issuer: x509.Certificate
    ) -> tuple[CrlStatus, float] | None:
        """The status a usable CRL at one of ``urls`` gives ``cert``, and until when to trust it."""
        now = self._clock()
        for url in urls:
            slot = self._slots.get(url)
            if slot is None or slot.parsed is None:
                continue
            slot.used = now
            if self._usable(slot.parsed, issuer, now):
                status: CrlStatus = "revoked" if cert.serial_number in slot.parsed.revoked else "good"
                return status, min(slot.parsed.next_update, slot.due)
        return None

    def want(self, urls: Iterable[str]) -> list[asyncio.Task[None]]:
        """Start downloading those of ``urls`` that are due (new ones are); the downloads under way."""
        slots = [slot for url in urls if (slot := self._slot(url)) is not None]
        return [task for slot in slots if (task := self._spawn(slot)) is not None]

    async def fetch(self, urls: Iterable[str], wait_s: float) -> None:
        """``want(urls)``, then wait at most ``wait_s`` for those downloads (they go on after)."""
        tasks = self.want(urls)
        if tasks and wait_s > 0:
            await asyncio.wait(tasks, timeout=wait_s)

    def _slot(self, url: str) -> _Slot | None:
        slot = self._slots.get(url)
        if slot is None and (len(self._slots) < self._config.max_crls or self._evict()):
            slot = self._slots[url] = _Slot(url, pinned=False, used=self._clock())
        return slot

    def _evict(self) -> bool:
        spare = [slot for slot in self._slots.values() if not slot.pinned]
        if not spare:
            return False
        oldest = min(spare, key=lambda slot: slot.used)
        if oldest.task is not None:
            oldest.task.cancel()
        del self._slots[oldest.url]
        self._stats.crl_last_refresh.pop(oldest.url, None)
        return True

    def _spawn(self, slot: _Slot) -> asyncio.Task[None] | None:
        if slot.task is None and slot.due <= self._clock():
            slot.task = asyncio.create_task(self._refresh(slot))
        return slot.task

    async def _run(self) -> None:
        while True:
            self.want(list(self._slots))
            idle = [slot.due for slot in self._slots.values() if slot.task is None]
            delay = min(idle, default=float("inf")) - self._clock()
            await asyncio.sleep(min(max(delay, 0.0), _MAX_SLEEP_S))

    async def _refresh(self, slot: _Slot) -> None:
        try:
            data = await self._fetch(slot.url, self._config.crl_timeout_s)
            parsed = await asyncio.to_thread(parse_crl, data)
        except (FetchError, ValueError):
            self._stats.crl_refresh_failed += 1
            slot.due = self._clock() + self._config.crl_refresh_min_interval_s
        else:
            now = self._clock()
            if slot.parsed is None or parsed.this_update >= slot.parsed.this_update:  # no rollback
                slot.parsed = parsed
            slot.due = self._next_due(parsed, now)
            self._stats.crl_refresh_ok += 1
            self._stats.crl_last_refresh[slot.url] = now
        finally:
            slot.task = None

    def _next_due(self, parsed: ParsedCrl, now: float) -> float:
        c = self._config
        planned = parsed.this_update + c.refresh_fraction * (parsed.next_update - parsed.this_update)
        return max(now + c.crl_refresh_min_interval_s, min(planned, now + c.crl_refresh_max_interval_s))

    def _usable(self, parsed: ParsedCrl, issuer: x509.Certificate, now: float) -> bool:
        grace = self._config.crl_grace_s
        if not parsed.this_update - grace <= now <= parsed.next_update + grace:
            return False
        fingerprint = issuer.fingerprint(hashes.SHA256())
        if fingerprint not in parsed.signed_by:
            parsed.signed_by[fingerprint] = signed_by(parsed.crl, issuer)
        return parsed.signed_by[fingerprint]


def _is_http_uri(name: x509.GeneralName) -> bool:
    return isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://"))


class HttpFetcher:
    """The network seam of both sources: GET a CRL or POST an OCSP request, on a session it owns."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def fetch(
        self, url: str, timeout_s: float, *, body: bytes | None = None, limit: int = _CRL_MAX_BYTES
    ) -> bytes:
        """The body of a 200 answer; any failure, the timeout (connecting included) too, is a FetchError."""
        method, headers = (
            ("GET", {}) if body is None else ("POST", {"Content-Type": "application/ocsp-request"})
        )
        try:
            async with (
                asyncio.timeout(timeout_s),
                self._client().request(method, url, data=body, headers=headers) as response,
            ):
                if response.status != 200:
                    raise FetchError(f"{url} answered HTTP {response.status}")
                return await _read_bounded(response, limit)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise FetchError(f"{url}: {type(e).__name__} {e}".rstrip()) from e

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No cookie jar: nothing from one QTSP's server is sent to another.
            self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        return self._session


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise FetchError(f"answer larger than {limit} bytes")
    return bytes(data)
