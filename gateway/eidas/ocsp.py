"""OCSP at application level (RFC 6960): build a request, judge a response. Pure, no I/O.

``revocation`` posts the bytes and keeps the answers. A response is used only when:
* its status is successful and it is signed by the certificate's issuer, or by a responder
  certificate that the issuer signed directly and that carries id-kp-OCSPSigning (clause 4.2.2.2);
* one of its single responses names our certificate: same serial, same hashes of the issuer's
  name and key (the CertID, clause 4.1.1);
* thisUpdate is not in the future beyond the allowed skew and nextUpdate, when present, has
  not passed (clause 3.2 items 4 and 5);
* it echoes our nonce, when we sent one and it returns one (responders serving pre-produced
  answers ignore nonces, RFC 5019 clause 2.2.1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from gateway.eidas import der

OcspStatus = Literal["good", "revoked", "unknown"]

_STATUS: dict[ocsp.OCSPCertStatus, OcspStatus] = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


_LETTERS: dict[OcspStatus, str] = {"good": "g", "revoked": "r", "unknown": "u"}


class OcspError(Exception):
    """The response cannot be used; the message says why (for logs, never for the TPP)."""


@dataclass(frozen=True, slots=True)
class OcspAnswer:
    """What a checked response says about one certificate; times in epoch seconds."""

    status: OcspStatus
    this_update: float
    next_update: float | None


@dataclass(frozen=True, slots=True)
class CachedStatus:
    """A status as the caches keep it: ``<g|r|u>:<checked, epoch s>:<nextUpdate, epoch s, 0 = none>``."""

    status: OcspStatus
    checked: float
    next_update: float | None

    def encode(self) -> str:
        return f"{_LETTERS[self.status]}:{int(self.checked)}:{int(self.next_update or 0)}"

    @staticmethod
    def decode(text: str) -> CachedStatus | None:
        """The status ``encode`` wrote, or None for anything else."""
        parts = text.split(":")
        status = next((s for s, c in _LETTERS.items() if [c] == parts[:1]), None)
        if status is None or len(parts) != 3 or not all(p.isdigit() for p in parts[1:]):
            return None
        return CachedStatus(status, float(parts[1]), float(parts[2]) or None)


def responder_url(cert: x509.Certificate) -> str | None:
    """The first http(s) OCSP responder URL of the certificate's AIA extension, or None."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for description in access:
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.OCSP and _is_http_uri(location):
            return str(location.value)
    return None


def new_nonce() -> bytes:
    return os.urandom(16)


def build_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None) -> bytes:
    """The DER OCSP request for ``cert``, with a SHA-1 CertID: what responders index by (RFC 5019)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def issuer_key_hash(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    """The hash of the issuer's subjectPublicKey bits (the CertID's issuerKeyHash), SHA-1 by default."""
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bits = der.children(der.read_one(spki))[1].content[1:]  # BIT STRING: skip the unused-bits octet
    return _digest(algorithm or hashes.SHA1(), bits)


def check_response(
    data: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    now: float,
    skew_s: float,
    nonce: bytes | None = None,
) -> OcspAnswer:
    """The status ``data`` gives ``cert``; raise ``OcspError`` when the response must not be used."""
    try:
        response = ocsp.load_der_ocsp_response(data)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise OcspError(f"responder answered {response.response_status.name}")
        _check_signer(response, issuer, now)
        _check_nonce(response, nonce)
        return _answer(_single_for(response, cert, issuer), now, skew_s)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise OcspError(f"malformed OCSP response: {e}") from e


def _check_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: float) -> None:
    signer = issuer if _is_responder(response, issuer) else _delegate(response, issuer, now)
    _verify(signer.public_key(), response.signature, response.tbs_response_bytes, response)


def _is_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_key_hash is not None:
        return response.responder_key_hash == issuer_key_hash(cert)
    return response.responder_name == cert.subject


def _delegate(response: ocsp.OCSPResponse, issuer: x509.Certificate, now: float) -> x509.Certificate:
    for candidate in response.certificates:
        if _is_responder(response, candidate):
            _check_delegate(candidate, issuer, now)
            return candidate
    raise OcspError("signed by neither the issuer nor a responder certificate in the response")


def _check_delegate(candidate: x509.Certificate, issuer: x509.Certificate, now: float) -> None:
    try:
        candidate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as e:
        raise OcspError("delegated responder certificate not issued by the certificate's issuer") from e
    try:
        usages = list(candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
        raise OcspError("delegated responder certificate lacks id-kp-OCSPSigning")
    if not candidate.not_valid_before_utc.timestamp() <= now <= candidate.not_valid_after_utc.timestamp():
        raise OcspError("delegated responder certificate outside its validity period")


def _verify(key: object, signature: bytes, data: bytes, response: ocsp.OCSPResponse) -> None:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
            return
        algorithm = response.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            raise OcspError(f"unsupported responder key {type(key).__name__}")
    except InvalidSignature as e:
        raise OcspError("bad signature on the OCSP response") from e


def _check_nonce(response: ocsp.OCSPResponse, nonce: bytes | None) -> None:
    if nonce is None:
        return
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return
    if echoed != nonce:
        raise OcspError("the response's nonce is not the request's")


def _single_for(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        algorithm = single.hash_algorithm
        if (
            single.serial_number == cert.serial_number
            and single.issuer_name_hash == _digest(algorithm, issuer.subject.public_bytes())
            and single.issuer_key_hash == issuer_key_hash(issuer, algorithm)
        ):
            return single
    raise OcspError("no single response for this certificate (CertID mismatch)")


def _answer(single: ocsp.OCSPSingleResponse, now: float, skew_s: float) -> OcspAnswer:
    this_update = single.this_update_utc.timestamp()
    next_update = single.next_update_utc.timestamp() if single.next_update_utc else None
    if this_update > now + skew_s:
        raise OcspError("thisUpdate is in the future")
    if next_update is not None and next_update < now - skew_s:
        raise OcspError("nextUpdate has passed")
    return OcspAnswer(_STATUS[single.certificate_status], this_update, next_update)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _is_http_uri(name: x509.GeneralName) -> bool:
    return isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://"))
