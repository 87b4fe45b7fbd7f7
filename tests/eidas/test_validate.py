"""The application-level validator: chain (cryptography's verifier), validity window, eIDAS content."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from gateway.eidas.issue import DevCA
from gateway.eidas.validate import CertificateValidator
from gateway.errors import Code, Reject

CA = DevCA.create("Validator QTSP")
OTHER = DevCA.create("Other QTSP")
NOW = dt.datetime.now(dt.UTC)


def validator(**kw: Any) -> CertificateValidator:
    return CertificateValidator([CA.issuing.cert], **kw)


def test_issuing_ca_alone_is_a_trust_anchor() -> None:
    """A non-self-signed issuing CA in the bundle anchors the chain (partial-chain semantics)."""
    validated = validator().validate(CA.issue_qwac().cert, [], qc_type="web", now=time.time())
    assert validated.identity.organization_id == "PSDBE-NBB-0123456789"
    assert validated.issuer == CA.issuing.cert


def test_root_anchor_needs_the_intermediate() -> None:
    """With only the root trusted, the issuing CA must come from configuration or the peer."""
    by_root = CertificateValidator([CA.root.cert])
    qwac = CA.issue_qwac().cert
    with pytest.raises(Reject):
        by_root.validate(qwac, [], qc_type="web", now=time.time())
    assert by_root.validate(qwac, [CA.issuing.cert], qc_type="web", now=time.time()).issuer == CA.issuing.cert
    configured = CertificateValidator([CA.root.cert], [CA.issuing.cert])
    assert configured.validate(qwac, [], qc_type="web", now=time.time()).issuer == CA.issuing.cert


CASES: list[tuple[str, Any, str, float, Code | None]] = [
    ("valid QWAC", lambda: CA.issue_qwac(), "web", 0, None),
    ("valid QSealC as eseal", lambda: CA.issue_qseal(), "eseal", 0, None),
    ("QSealC where a QWAC is needed", lambda: CA.issue_qseal(), "web", 0, Code.CERTIFICATE_INVALID),
    ("other QTSP", lambda: OTHER.issue_qwac(), "web", 0, Code.CERTIFICATE_INVALID),
    (
        "expired (clock after notAfter)",
        lambda: CA.issue_qwac(valid_days=10),
        "web",
        11 * 86400,
        Code.CERTIFICATE_EXPIRED,
    ),
    (
        "not yet valid",
        lambda: CA.issue_qwac(not_before=NOW + dt.timedelta(days=2)),
        "web",
        0,
        Code.CERTIFICATE_INVALID,
    ),
    (
        "no PSD2 statement",
        lambda: CA.issue_qwac(omit_psd2_statement=True),
        "web",
        0,
        Code.CERTIFICATE_INVALID,
    ),
    ("RSA 3072 key", lambda: CA.issue_qwac(key_type="rsa3072"), "web", 0, None),
]


@pytest.mark.parametrize(
    ("make", "qc_type", "later", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_validation_table(make: Any, qc_type: str, later: float, code: Code | None) -> None:
    """Each certificate gets exactly its verdict."""
    cert = make().cert
    when = time.time() + later  # now, not at import: certificates are backdated only minutes
    if code is None:
        validator().validate(cert, [], qc_type=qc_type, now=when)  # type: ignore[arg-type]
        return
    with pytest.raises(Reject) as caught:
        validator().validate(cert, [], qc_type=qc_type, now=when)  # type: ignore[arg-type]
    assert caught.value.code is code


def test_client_auth_eku_only_when_configured() -> None:
    """serverAuth-only QWACs pass by default and fail when clientAuth is required."""
    qwac = CA.issue_qwac(client_auth_eku=False).cert
    validator().validate(qwac, [], qc_type="web", now=time.time())
    with pytest.raises(Reject):
        validator(require_client_auth_eku=True).validate(qwac, [], qc_type="web", now=time.time())


def test_strict_mode_rejects_lenient_encodings() -> None:
    """Strict QCStatement parsing turns a flattened role list into CERTIFICATE_INVALID."""
    qwac = CA.issue_qwac(psd2_encoding="flat-roles").cert
    assert validator().validate(qwac, [], qc_type="web", now=time.time()).identity.leniencies
    with pytest.raises(Reject):
        validator(strict_qc_statements=True).validate(qwac, [], qc_type="web", now=time.time())
