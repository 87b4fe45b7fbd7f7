"""Who is calling: the TPP's certificate, validated once and then answered from a cache.

The whole verdict (chain, validity, eIDAS content, revocation) is cached by the certificate's
bytes until the earliest of: the certificate's expiry, the revocation answer's own lifetime,
and the configured TTL. A request on a known certificate therefore costs a dictionary
look-up; concurrent first requests on one certificate share a single validation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography import x509

from gateway.eidas.identity import TppIdentity
from gateway.eidas.oids import Role
from gateway.eidas.validate import CertificateValidator, QcType
from gateway.errors import Code, Reject

Source = Literal["tls", "ingress"]
RevocationStatus = Literal["good", "revoked", "unavailable", "not-checked"]
# A rejected certificate is re-examined at most this often (a CA fix or a new CRL may clear it).
NEGATIVE_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class Identity:
    """The verified caller: certificate bytes, their SHA-256, and the TPP attributes in them."""

    certificate_der: bytes
    fingerprint_sha256: str
    tpp: TppIdentity
    source: Source
    revocation: RevocationStatus = "not-checked"


class RevocationVerdictLike(Protocol):
    @property
    def status(self) -> RevocationStatus: ...
    @property
    def valid_until(self) -> float: ...
    @property
    def reason(self) -> str: ...


class Revocation(Protocol):
    """The revocation seam: a real CRL/OCSP checker, or none."""

    async def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationVerdictLike: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    verdict: Identity | Reject
    valid_until: float


class IdentityService:
    """Certificate bytes -> Identity, or the Reject that explains why not."""

    def __init__(
        self,
        validator: CertificateValidator,
        revocation: Revocation | None = None,
        *,
        qc_type: QcType = "web",
        cache_ttl_s: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        on_verdict: Callable[[Identity | Reject], None] | None = None,
    ) -> None:
        self.on_verdict = on_verdict
        self.validator = validator
        self.revocation = revocation
        self.qc_type = qc_type
        self.cache_ttl_s = cache_ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._cache: dict[bytes, _Entry] = {}
        self._pending: dict[bytes, asyncio.Future[_Entry]] = {}

    async def identify(self, der: bytes, source: Source, presented: Sequence[bytes] = ()) -> Identity:
        now = self.clock()
        entry = self._cache.get(der)
        if entry is None or entry.valid_until <= now:
            entry = await self._examine_once(der, source, presented, now)
        if isinstance(entry.verdict, Reject):
            raise _copy(entry.verdict)
        return entry.verdict

    async def _examine_once(
        self, der: bytes, source: Source, presented: Sequence[bytes], now: float
    ) -> _Entry:
        pending = self._pending.get(der)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._pending[der] = future
        try:
            entry = await self._examine(der, source, presented, now)
            self._remember(der, entry)
            if self.on_verdict is not None:
                self.on_verdict(entry.verdict)
            future.set_result(entry)
            return entry
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        finally:
            del self._pending[der]

    async def _examine(self, der: bytes, source: Source, presented: Sequence[bytes], now: float) -> _Entry:
        try:
            cert = x509.load_der_x509_certificate(der)
            chain = [x509.load_der_x509_certificate(c) for c in presented]
            validated = self.validator.validate(cert, chain, qc_type=self.qc_type, now=now)
        except Reject as reject:
            return _Entry(reject, now + NEGATIVE_TTL_S)
        except Exception:  # untrusted DER: whatever cryptography raises, the answer is the same
            return _Entry(_invalid("the certificate cannot be parsed"), now + NEGATIVE_TTL_S)
        valid_until = min(now + self.cache_ttl_s, cert.not_valid_after_utc.timestamp())
        status: RevocationStatus = "not-checked"
        if self.revocation is not None:
            verdict = await self.revocation.status(cert, validated.issuer)
            status = verdict.status
            if status == "revoked":
                revoked = Reject(
                    Code.CERTIFICATE_REVOKED, "The certificate has been revoked.", rule="identity"
                )
                return _Entry(revoked, now + NEGATIVE_TTL_S)
            if status == "unavailable":
                return _Entry(_invalid("its revocation status is unavailable"), now + 1.0)
            valid_until = min(valid_until, verdict.valid_until)
        identity = Identity(der, hashlib.sha256(der).hexdigest(), validated.identity, source, status)
        return _Entry(identity, valid_until)

    def _remember(self, der: bytes, entry: _Entry) -> None:
        if len(self._cache) >= self.max_entries:
            self._cache.pop(next(iter(self._cache)))
        self._cache[der] = entry

    def forget_all(self) -> None:
        """Drop every cached verdict (after a trust store, CRL or registry reload)."""
        self._cache.clear()


def synthetic_identity(organization_id: str, name: str, roles: frozenset[Role], nca_id: str = "") -> Identity:
    """An identity no certificate stands behind (sandbox mode, policy explanations); never cached."""
    now = dt.datetime.now(dt.UTC)
    tpp = TppIdentity(
        organization_id=organization_id,
        organization_name=name,
        country=organization_id[3:5] or "XX",
        roles=roles,
        nca_name=nca_id,
        nca_id=nca_id,
        qc_types=frozenset({"web"}),
        fingerprint_sha256="0" * 64,
        serial=0,
        issuer_rfc4514="",
        subject_rfc4514="",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=3650),
        leniencies=(),
        warnings=(),
    )
    return Identity(b"", "0" * 64, tpp, "tls", "not-checked")


def peer_certificate(der: bytes | None) -> bytes:
    """The client certificate the handshake verified, or CERTIFICATE_MISSING."""
    if not der:
        raise Reject(Code.CERTIFICATE_MISSING, "A client certificate (QWAC) is required.", rule="identity")
    return der


def _invalid(why: str) -> Reject:
    return Reject(Code.CERTIFICATE_INVALID, f"The certificate is not valid: {why}.", rule="identity")


def _copy(reject: Reject) -> Reject:
    """A fresh exception per request: a cached one would carry the first request's traceback."""
    return Reject(reject.code, reject.text, reject.status, dict(reject.headers), reject.rule)
