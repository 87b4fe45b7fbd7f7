"""Application-level certificate validation, after (or instead of) the TLS handshake.

The handshake's OpenSSL check is not the authority here: it diverges from the x509-limbo
suite on dozens of cases and cannot tell an expired QWAC from an untrusted one. Every
decision below names the validator that makes it:

* validity window: this module (so expired -> CERTIFICATE_EXPIRED, not yet valid -> INVALID);
* chain to a configured QTSP anchor: ``cryptography.x509.verification`` (Rust, RFC 5280/CABF);
* eIDAS content (QcCompliance, QcType, PSD2 statement, organizationIdentifier):
  ``gateway.eidas.identity`` (ETSI TS 119 495).

QWACs are client certificates here, but many carry only serverAuth (and QTSPs are dropping
clientAuth from 2026), and some have no SAN: both are allowed unless configured otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from gateway.eidas.identity import CertificateParseError, TppIdentity, identity_from_certificate
from gateway.errors import Code, GatewayError, Reject

QcType = Literal["web", "eseal"]


@dataclass(frozen=True, slots=True)
class Validated:
    """A certificate that passed every check, with what the next steps need."""

    certificate: x509.Certificate
    identity: TppIdentity
    issuer: x509.Certificate


class CertificateValidator:
    """Validates TPP certificates against the configured QTSP anchors (pure, no network)."""

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        *,
        strict_qc_statements: bool = False,
        require_client_auth_eku: bool = False,
        max_chain_depth: int = 4,
    ) -> None:
        if not anchors:
            raise GatewayError("identity: at least one trusted QTSP CA certificate is required")
        self.store = Store(list(anchors))
        self.intermediates = list(intermediates)
        self.strict = strict_qc_statements
        self.max_chain_depth = max_chain_depth
        self.ee_policy = _ee_policy(require_client_auth_eku)

    def with_trust(
        self, anchors: Sequence[x509.Certificate], intermediates: Sequence[x509.Certificate]
    ) -> CertificateValidator:
        """The same checks against a new trust store (a reload)."""
        twin = CertificateValidator(anchors, intermediates, max_chain_depth=self.max_chain_depth)
        twin.strict, twin.ee_policy = self.strict, self.ee_policy
        return twin

    def validate(
        self, cert: x509.Certificate, presented: Sequence[x509.Certificate], *, qc_type: QcType, now: float
    ) -> Validated:
        issuer = self.check_path(cert, presented, now=now)
        identity = _eidas_identity(cert, self.strict)
        if qc_type not in identity.qc_types:
            raise _invalid(f"the certificate is not of QcType {qc_type} (ETSI EN 319 412-5)")
        return Validated(cert, identity, issuer)

    def check_path(
        self, cert: x509.Certificate, presented: Sequence[x509.Certificate], *, now: float
    ) -> x509.Certificate:
        """The path decisions alone (validity window, chain to an anchor): the issuer, or Reject.

        The x509-limbo client-path cases are run through this (``tests/eidas/test_limbo.py``);
        the eIDAS content checks come after it in ``validate``.
        """
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        _check_validity_window(cert, when)
        return self._chain(cert, presented, when)

    def _chain(
        self, cert: x509.Certificate, presented: Sequence[x509.Certificate], when: dt.datetime
    ) -> x509.Certificate:
        verifier = (
            PolicyBuilder()
            .store(self.store)
            .time(when)
            .max_chain_depth(self.max_chain_depth)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=self.ee_policy)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(cert, [*presented, *self.intermediates])
        except VerificationError as e:
            raise _invalid("the certificate does not chain to a trusted QTSP") from e
        return verified.chain[1]


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; an unreadable bundle is a start-up error naming it."""
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as e:
        raise GatewayError(f"{path}: cannot read a PEM certificate bundle: {e}") from e


def _ee_policy(require_client_auth_eku: bool) -> ExtensionPolicy:
    policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    eku_check = _require_client_auth if require_client_auth_eku else None
    return policy.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, eku_check)


def _require_client_auth(_policy: object, _cert: object, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise ValueError("the extended key usage does not allow client authentication")


def _check_validity_window(cert: x509.Certificate, when: dt.datetime) -> None:
    if when > cert.not_valid_after_utc:
        raise Reject(Code.CERTIFICATE_EXPIRED, "The certificate has expired.", rule="identity")
    if when < cert.not_valid_before_utc:
        raise _invalid("the certificate is not valid yet")


def _eidas_identity(cert: x509.Certificate, strict: bool) -> TppIdentity:
    try:
        return identity_from_certificate(cert, strict=strict)
    except CertificateParseError as e:
        raise _invalid(f"not a PSD2 certificate: {e.reason}") from e


def _invalid(why: str) -> Reject:
    return Reject(Code.CERTIFICATE_INVALID, f"The certificate is not valid: {why}.", rule="identity")
