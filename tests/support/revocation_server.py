"""A CRL distribution point and OCSP responder on loopback, with knobs to make it fail.

Bind first (the URL goes into the certificates), then create the CA, then attach it::

    server = RevocationServer()
    base = await server.start()
    ca = DevCA.create(revocation_base_url=base)
    server.attach(ca)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.eidas.issue import DevCA, IssuedCertificate, issue_crl

Mode = Literal["ok", "bad-signature", "wrong-certid", "try-later", "garbage", "other-issuer"]
DER = serialization.Encoding.DER


class RevocationServer:
    """Serves ``GET /crl/issuing.crl`` and ``POST /ocsp`` for the attached ``DevCA``'s issuing CA.

    ``mode`` breaks the answers: ``bad-signature`` (a CRL signed by a stranger's key, an OCSP
    response with a damaged signature), ``wrong-certid`` (OCSP about another serial),
    ``try-later`` (OCSP tryLater, CRL HTTP 503), ``garbage`` (bytes that are no DER),
    ``other-issuer`` (a CRL of another CA).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.revoked: set[int] = set()
        self.unknown: set[int] = set()
        self.crl_next_update_s = 3600.0
        self.ocsp_next_update_s: float | None = 3600.0
        self.delegated = False
        self.delegate_eku = True
        self.mode: Mode = "ok"
        self.crl_requests = 0
        self.ocsp_requests = 0
        self.port = 0
        self._ca: DevCA | None = None
        self._delegate: IssuedCertificate | None = None
        self._other: DevCA | None = None
        self._stranger = ec.generate_private_key(ec.SECP256R1())
        self._clock = clock
        self._freeze_s = 0.0
        self._thaw = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> DevCA:
        assert self._ca is not None, "attach() a DevCA first"
        return self._ca

    async def start(self) -> str:
        """Listen on a free loopback port; the base URL to give ``DevCA.create``."""
        app = web.Application()
        app.router.add_get("/crl/issuing.crl", self._crl)
        app.router.add_post("/ocsp", self._ocsp)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await self.up()
        return self.url

    def attach(self, ca: DevCA) -> None:
        self._ca = ca
        self._delegate = None

    async def up(self) -> None:
        assert self._runner is not None and self._site is None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = self._runner.addresses[0][1]

    async def down(self) -> None:
        """Stop listening: connections are refused until ``up()``."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    def freeze(self, seconds: float) -> None:
        """Hold every answer ``seconds`` (0 answers at once again)."""
        self._freeze_s = seconds
        self._thaw.clear()

    async def close(self) -> None:
        self._thaw.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _frozen(self) -> None:
        if self._freeze_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._thaw.wait(), self._freeze_s)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _crl(self, request: web.Request) -> web.Response:
        self.crl_requests += 1
        await self._frozen()
        if self.mode == "try-later":
            return _reply(b"", "text/plain", status=503)
        if self.mode == "garbage":
            return _reply(b"garbage", "application/pkix-crl")
        now = self._now()
        crl = issue_crl(
            self._crl_signer(), self.revoked, now, now + timedelta(seconds=self.crl_next_update_s)
        )
        return _reply(crl.public_bytes(DER), "application/pkix-crl")

    def _crl_signer(self) -> DevCA:
        if self.mode == "other-issuer":
            self._other = self._other or DevCA.create("Other QTSP")
            return self._other
        if self.mode == "bad-signature":
            return DevCA(self.ca.root, IssuedCertificate(self.ca.issuing.cert, self._stranger))
        return self.ca

    async def _ocsp(self, request: web.Request) -> web.Response:
        self.ocsp_requests += 1
        body = await request.read()
        await self._frozen()
        if self.mode == "garbage":
            return _reply(b"\x30\x03abc", "application/ocsp-response")
        if self.mode == "try-later":
            answer = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
            return _reply(answer.public_bytes(DER), "application/ocsp-response")
        return _reply(self._ocsp_answer(ocsp.load_der_ocsp_request(body)), "application/ocsp-response")

    def _ocsp_answer(self, req: ocsp.OCSPRequest) -> bytes:
        serial = req.serial_number + (1 if self.mode == "wrong-certid" else 0)
        status = ocsp.OCSPCertStatus.GOOD
        if serial in self.revoked:
            status = ocsp.OCSPCertStatus.REVOKED
        elif serial in self.unknown:
            status = ocsp.OCSPCertStatus.UNKNOWN
        now = self._now()
        next_update = now + timedelta(seconds=self.ocsp_next_update_s) if self.ocsp_next_update_s else None
        revoked_at = now if status == ocsp.OCSPCertStatus.REVOKED else None
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            req.issuer_name_hash,
            req.issuer_key_hash,
            serial,
            req.hash_algorithm,
            status,
            now,
            next_update,
            revoked_at,
            None,
        )
        for extension in req.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                builder = builder.add_extension(extension.value, critical=False)
        signer = self._signer()
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        if self.delegated:
            builder = builder.certificates([signer.cert])
        response = builder.sign(signer.key, hashes.SHA256())
        if self.mode == "bad-signature":
            return _flip_last_bit(response.public_bytes(DER), response.signature)
        return response.public_bytes(DER)

    def _signer(self) -> IssuedCertificate:
        if not self.delegated:
            return self.ca.issuing
        if self._delegate is None:
            self._delegate = _delegate(self.ca, eku=self.delegate_eku)
        return self._delegate


def _delegate(ca: DevCA, *, eku: bool) -> IssuedCertificate:
    """A delegated OCSP responder certificate (RFC 6960 clause 4.2.2.2) issued by the issuing CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC) - timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dev OCSP Responder")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca.issuing.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    usages = [ExtendedKeyUsageOID.OCSP_SIGNING] if eku else [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return IssuedCertificate(builder.sign(ca.issuing.key, hashes.SHA256()), key, (ca.issuing.cert,))


def _flip_last_bit(data: bytes, signature: bytes) -> bytes:
    """``data`` with its ``signature`` damaged: still well-formed, no longer valid."""
    at = data.rindex(signature) + len(signature) - 1
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _reply(body: bytes, content_type: str, *, status: int = 200) -> web.Response:
    response = web.Response(body=body, content_type=content_type, status=status)
    response.force_close()  # no keep-alive: down() must refuse the very next request
    return response
