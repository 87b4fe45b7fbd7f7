"""Request integrity for NextGenPSD2: Digest, draft-cavage Signature, TPP-Signature-Certificate, RFC 9421.

Pure functions, no I/O, no server code; every failure is a ``SignatureProblem`` with a ``kind``.
``verify_cavage_request`` is the whole Berlin Group 1.3 check in the order a policy runs it:
certificate -> Signature syntax -> signed-header set -> keyId -> Digest over the body -> Date ->
the signature itself (last, because it is the expensive step).
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography import x509

from gateway.signatures.cavage import (
    CavageSignature,
    HeaderSource,
    SignedHeaderPolicy,
    header_index,
    indexed_signing_string,
    parse_signature,
)
from gateway.signatures.certificate_header import decode_certificate_header
from gateway.signatures.digest import verify_digest
from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.freshness import check_skew
from gateway.signatures.keyid import check_key_id
from gateway.signatures.per_object import per_object
from gateway.signatures.verify import PublicKey, verify

__all__ = ["ProblemKind", "SignatureProblem", "check_cavage", "public_key_of", "verify_cavage_request"]


def _first(index: Mapping[str, list[str]], name: str) -> str | None:
    values = index.get(name)
    return ", ".join(values) if values else None


def verify_cavage_request(
    method: str,
    target: str,
    headers: HeaderSource,
    body: bytes,
    *,
    policy: SignedHeaderPolicy,
    now: float | None = None,
    skew_s: float = 300,
    min_rsa_bits: int = 2048,
    accept_decimal_serial: bool = False,
) -> x509.Certificate:
    """Check a sealed Berlin Group request; returns the QSealC it was sealed with.

    ``now`` enables the Date check (DATE_MISSING / DATE_INVALID / DATE_SKEW); certificate
    validity, revocation and the PSD2 role are the eIDAS policy's business, not this one's.
    """
    index = header_index(headers)
    cert = decode_certificate_header(_first(index, "tpp-signature-certificate"))
    signature = parse_signature(_first(index, "signature"))
    check_cavage(
        method,
        target,
        index,
        signature,
        cert,
        body,
        policy=policy,
        now=now,
        skew_s=skew_s,
        min_rsa_bits=min_rsa_bits,
        accept_decimal_serial=accept_decimal_serial,
    )
    return cert


def check_cavage(
    method: str,
    target: str,
    index: Mapping[str, list[str]],
    signature: CavageSignature,
    cert: x509.Certificate,
    body: bytes,
    *,
    policy: SignedHeaderPolicy,
    now: float | None,
    skew_s: float,
    min_rsa_bits: int,
    accept_decimal_serial: bool = False,
) -> bytes:
    """The checks after the certificate and the Signature header are parsed; returns the signed data.

    ``index`` is ``header_index`` of the request's headers: several Digest or Date fields are
    checked joined, as they are signed.
    """
    policy.check_lowered({n.lower() for n in signature.headers}, index)
    check_key_id(signature.key_id, cert, accept_decimal=accept_decimal_serial)
    verify_digest(_first(index, "digest"), body)
    if now is not None:
        check_skew(_first(index, "date"), now, skew_s)
    names = signature.headers
    data = indexed_signing_string(method, target, index, names, signature.created, signature.expires)
    verify(public_key_of(cert), signature.algorithm, data, signature.signature, min_rsa_bits=min_rsa_bits)
    return data


@per_object(maxsize=1024)
def public_key_of(cert: x509.Certificate) -> PublicKey:
    """One key object per certificate: a fresh one per request is parsed again and, for RSA,
    loses OpenSSL's cached Montgomery context for its modulus."""
    key = cert.public_key()
    if not isinstance(key, PublicKey):
        raise SignatureProblem(
            ProblemKind.ALGORITHM_UNSUPPORTED,
            "TPP-Signature-Certificate",
            "the certificate's key type is not supported",
        )
    return key
