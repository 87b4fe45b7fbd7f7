"""``qseal-signature``: the request is sealed with the TPP's QSealC (Berlin Group 1.3, 12).

Checks, cheapest first: ``TPP-Signature-Certificate`` (decoded once per distinct value), the
``Signature`` syntax, the set of signed headers the bank's profile mandates, the keyId
against the certificate, the Digest over the body bytes as received, the Date window, then
the signature itself. The certificate is validated like a QWAC (chain, validity, revocation,
PSD2 statement) but must be a QSealC (QcType eseal), and by default belong to the same
organization as the QWAC. The anchors disagree on some codes, so those are settings.
RFC 9421 (``Signature-Input``/``Signature``, ``Content-Digest``) is selectable per profile.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import ClassVar, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode
from gateway.signatures import cavage, check_cavage, public_key_of, rfc9421
from gateway.signatures.certificate_header import decode_certificate_header
from gateway.signatures.digest import verify_content_digest
from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.per_object import per_object

_DATE_KINDS = {ProblemKind.DATE_MISSING, ProblemKind.DATE_INVALID, ProblemKind.DATE_SKEW}
_DIGEST_KINDS = {
    ProblemKind.DIGEST_MISSING,
    ProblemKind.DIGEST_MALFORMED,
    ProblemKind.DIGEST_UNSUPPORTED,
    ProblemKind.DIGEST_MISMATCH,
}


@dataclass(frozen=True)
class QsealSignatureConfig:
    scheme: Literal["cavage", "rfc9421"] = doc(
        "draft-cavage (NextGenPSD2 1.3) or RFC 9421.", default="cavage"
    )
    signature_in: Literal["Signature", "Authorization"] = doc(
        "draft-cavage: the Signature header, or 'Authorization: Signature ...'.", default="Signature"
    )
    certificate_headers: list[str] = doc(
        "Headers carrying the QSealC, first present wins.", factory=lambda: ["TPP-Signature-Certificate"]
    )
    required_headers: list[str] = doc(
        "Headers that must always be signed.", factory=lambda: ["digest", "x-request-id"]
    )
    required_when_present: list[str] = doc(
        "Headers that must be signed whenever the request has them.",
        factory=lambda: ["psu-id", "psu-corporate-id", "tpp-redirect-uri"],
    )
    require_date: bool = doc("Date must be present, signed and within date-skew-s.", default=True)
    require_request_target: bool = doc("(request-target) must be signed.", default=False)
    allowed_headers: list[str] = doc("Whitelist mode: only these may be signed (empty: any).", factory=list)
    date_skew_s: int = doc("Allowed distance between Date and the gateway's clock.", default=300, minimum=1)
    min_rsa_bits: int = doc("Smallest RSA key accepted.", default=2048, minimum=1024)
    bind_organization: bool = doc("The QSealC's organizationIdentifier must be the QWAC's.", default=True)
    digest_code: Literal["SIGNATURE_INVALID", "FORMAT_ERROR"] = doc(
        "Code for Digest problems.", default="SIGNATURE_INVALID"
    )
    missing_certificate_code: Literal["CERTIFICATE_MISSING", "FORMAT_ERROR"] = doc(
        "Code when no signing certificate is sent.", default="CERTIFICATE_MISSING"
    )
    optional: bool = doc("Verify only requests that carry a signature.", default=False)
    audit: bool = doc("Write an audit record per sealed request (settings: audit.path).", default=True)
    audit_body: bool = doc("Include the body in the audit record.", default=False)


class QsealSignaturePolicy:
    name: ClassVar[str] = "qseal-signature"
    Config: ClassVar[type[QsealSignatureConfig]] = QsealSignatureConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: QsealSignatureConfig) -> None:
        self.config = config
        self.header_policy = cavage.SignedHeaderPolicy(
            required=frozenset(
                [
                    *config.required_headers,
                    *(["date"] if config.require_date else []),
                    *(["(request-target)"] if config.require_request_target else []),
                ]
            ),
            when_present=frozenset(config.required_when_present),
            allowed=frozenset(config.allowed_headers) or None,
        )
        self.signature_header = config.signature_in if config.scheme == "cavage" else "Signature"

    async def enforce(self, ex: Exchange) -> None:
        if self.config.optional and self.signature_header not in ex.headers:
            return
        try:
            cert = self._certificate(ex)
            signed = self._verify(ex, cert)
        except SignatureProblem as problem:
            self._audit(ex, None, b"", "rejected", problem.kind.value)
            raise self._reject(problem) from None
        await self._check_seal(ex, cert)
        self._audit(ex, cert, signed, "accepted", "")

    def _certificate(self, ex: Exchange) -> x509.Certificate:
        for name in self.config.certificate_headers:
            value = ex.headers.get(name)
            if value is not None:
                return _decode(value)
        raise SignatureProblem(
            ProblemKind.CERTIFICATE_MISSING,
            self.config.certificate_headers[0],
            "the signing certificate is missing",
        )

    def _verify(self, ex: Exchange, cert: x509.Certificate) -> bytes:
        now = ex.now_ms / 1000
        if self.config.scheme == "rfc9421":
            return self._verify_rfc9421(ex, cert, now)
        index = cavage.header_index(ex.headers)
        raw = ex.headers.get(self.signature_header)
        parsed = (
            cavage.parse_authorization(raw)
            if self.signature_header == "Authorization"
            else cavage.parse_signature(raw)
        )
        return check_cavage(
            ex.method,
            ex.target.raw,
            index,
            parsed,
            cert,
            ex.body,
            policy=self.header_policy,
            now=now if self.config.require_date else None,
            skew_s=self.config.date_skew_s,
            min_rsa_bits=self.config.min_rsa_bits,
        )

    def _verify_rfc9421(self, ex: Exchange, cert: x509.Certificate, now: float) -> bytes:
        verify_content_digest(ex.headers.get("Content-Digest"), ex.body)
        host = ex.headers.get("Host", "localhost")
        message = rfc9421.Message(
            ex.method, f"https://{host}{ex.target.raw}", cavage.header_index(ex.headers)
        )
        required = ["@method", "content-digest", *self.config.required_headers]
        if self.config.require_request_target:
            required.append("@target-uri")
        if self.config.require_date:
            required.append("date")
        required = [name for name in dict.fromkeys(required) if name != "digest"]
        chosen = rfc9421.verify_message(
            message,
            ex.headers.get("Signature-Input"),
            ex.headers.get("Signature"),
            public_key_of(cert),
            required=required,
            now=now,
            min_rsa_bits=self.config.min_rsa_bits,
        )
        return rfc9421.signature_base(message, chosen.covered)

    async def _check_seal(self, ex: Exchange, cert: x509.Certificate) -> None:
        if ex.services is None:
            raise Reject(Code.SERVICE_UNAVAILABLE, "Seal validation is not available.")
        seal = await ex.services.seals.identify(_der(cert), "tls")
        qwac_org = ex.identity.tpp.organization_id if ex.identity else None
        if self.config.bind_organization and seal.tpp.organization_id != qwac_org:
            raise Reject(
                Code.CERTIFICATE_INVALID,
                "The signing certificate belongs to another organization than the QWAC.",
            )

    def _reject(self, problem: SignatureProblem) -> Reject:
        text = f"{problem.header}: {problem.text}."
        kind = problem.kind
        if kind in _DATE_KINDS:
            return Reject(Code.TIMESTAMP_INVALID, text)
        if kind in _DIGEST_KINDS:
            return Reject(Code(self.config.digest_code), text)
        if kind is ProblemKind.CERTIFICATE_MISSING:
            return Reject(Code(self.config.missing_certificate_code), text)
        if kind is ProblemKind.CERTIFICATE_MALFORMED:
            return Reject(Code.CERTIFICATE_INVALID, text)
        if kind is ProblemKind.SIGNATURE_MISSING:
            return Reject(Code.SIGNATURE_MISSING, text)
        return Reject(Code.SIGNATURE_INVALID, text)

    def _audit(
        self, ex: Exchange, cert: x509.Certificate | None, signed: bytes, decision: str, problem: str
    ) -> None:
        audit = ex.services.audit if ex.services is not None else None
        if audit is None or not self.config.audit:
            return
        audit.record(
            time_ms=ex.now_ms,
            request_id=ex.headers.get("X-Request-ID"),
            tpp=ex.identity.tpp.organization_id if ex.identity else None,
            method=ex.method,
            target=ex.target.raw,
            scheme=self.config.scheme,
            signature=ex.headers.get(self.signature_header),
            signing_string=signed,
            certificate_sha256=_sha256(cert) if cert is not None else None,
            digest=ex.headers.get("Digest") or ex.headers.get("Content-Digest"),
            decision=decision,
            problem=problem or None,
            body=ex.body if self.config.audit_body else None,
        )


@functools.lru_cache(maxsize=1024)
def _decode(value: str) -> x509.Certificate:
    """Decoding a QSealC costs ~25 µs; a TPP sends the same one on every request."""
    return decode_certificate_header(value)


@per_object(maxsize=1024)  # (lru_cache would hash the certificate's DER on every call)
def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@per_object(maxsize=1024)
def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(_der(cert)).hexdigest()
