"""Who is calling: the TPP's verified client certificate, read once per certificate.

The TLS handshake has already checked the chain against the configured QTSP anchors; here
the certificate's eIDAS attributes are parsed (ETSI TS 119 495) and the result is cached
by the certificate's bytes, so a request on a known certificate costs a dictionary look-up.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from typing import Literal

from gateway.eidas.identity import CertificateParseError, TppIdentity, identity_from_der
from gateway.errors import Code, Reject

Source = Literal["tls", "ingress"]


@dataclass(frozen=True, slots=True)
class Identity:
    """The verified caller: certificate bytes, their SHA-256, and the TPP attributes in them."""

    certificate_der: bytes
    fingerprint_sha256: str
    tpp: TppIdentity
    source: Source


class IdentityCache:
    """Certificate bytes -> Identity (or the rejection), bounded; oldest entries go first."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[bytes, Identity | Reject] = {}

    def identify(self, der: bytes, source: Source) -> Identity:
        verdict = self._entries.get(der)
        if verdict is None:
            verdict = _parse(der, source)
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[der] = verdict
        if isinstance(verdict, Reject):
            raise Reject(verdict.code, verdict.text, verdict.status, rule="identity")
        return verdict


def peer_certificate(ssl_object: ssl.SSLObject | None) -> bytes:
    """The client certificate the handshake verified, or CERTIFICATE_MISSING."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise Reject(Code.CERTIFICATE_MISSING, "A client certificate (QWAC) is required.", rule="identity")
    return der


def _parse(der: bytes, source: Source) -> Identity | Reject:
    try:
        tpp = identity_from_der(der)
    except CertificateParseError as e:
        return Reject(Code.CERTIFICATE_INVALID, f"The client certificate is not a valid QWAC: {e.reason}.")
    return Identity(der, hashlib.sha256(der).hexdigest(), tpp, source)
