"""A local development PKI on disk: one dev QTSP, the gateway's server cert, and a dev TPP.

Layout under the chosen directory (``certs/dev/`` by convention)::

    ca/root.pem  ca/root.test-key.pem  ca/issuing.pem  ca/issuing.test-key.pem
    trust/qtsp-bundle.pem              root + issuing CA: what the gateway trusts
    gateway/server.pem  gateway/server.test-key.pem    localhost, 127.0.0.1, ::1
    tpp/qwac.pem  tpp/qwac.test-key.pem                "Dev TPP Ltd", PSDBE-NBB-0123456789, all roles
    tpp/qseal.pem tpp/qseal.test-key.pem

Leaf files hold the leaf then the issuing CA, ready for ``ssl.SSLContext.load_cert_chain``.
Keys are plain PEM named ``*.test-key.pem`` so nobody mistakes them for secrets worth keeping.
``ensure_dev_pki`` is idempotent: it reuses what is there and re-issues only what is missing,
expired, about to expire, or no longer signed by the CA on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from gateway.eidas.issue import DevCA, IssuedCertificate, TppProfile, load_private_key, write_pem

DEV_TPP = TppProfile(organization_name="Dev TPP Ltd", organization_id="PSDBE-NBB-0123456789", country="BE")
# Re-issue a leaf that would expire within this margin, so a dev session never hits expiry midway.
RENEW_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class DevPki:
    directory: Path
    root_cert: Path
    root_key: Path
    issuing_cert: Path
    issuing_key: Path
    trust_bundle: Path
    server_cert: Path
    server_key: Path
    qwac_cert: Path
    qwac_key: Path
    qseal_cert: Path
    qseal_key: Path

    @classmethod
    def at(cls, directory: Path) -> DevPki:
        """The layout under ``directory`` (nothing is created)."""
        d = directory
        return cls(
            directory=d,
            root_cert=d / "ca/root.pem",
            root_key=d / "ca/root.test-key.pem",
            issuing_cert=d / "ca/issuing.pem",
            issuing_key=d / "ca/issuing.test-key.pem",
            trust_bundle=d / "trust/qtsp-bundle.pem",
            server_cert=d / "gateway/server.pem",
            server_key=d / "gateway/server.test-key.pem",
            qwac_cert=d / "tpp/qwac.pem",
            qwac_key=d / "tpp/qwac.test-key.pem",
            qseal_cert=d / "tpp/qseal.pem",
            qseal_key=d / "tpp/qseal.test-key.pem",
        )


def ensure_dev_pki(directory: Path, *, now: datetime | None = None) -> DevPki:
    """Create the dev PKI under ``directory``, or bring an existing one up to date; returns its paths."""
    pki = DevPki.at(directory)
    moment = now or datetime.now(UTC)
    ca = _ensure_ca(pki, moment)
    if not pki.trust_bundle.exists() or pki.trust_bundle.read_bytes() != ca.bundle_pem():
        write_pem(pki.trust_bundle, ca.bundle_pem())
    _ensure_leaf(
        pki.server_cert,
        pki.server_key,
        ca,
        moment,
        lambda: ca.issue_server(["localhost"], ["127.0.0.1", "::1"]),
    )
    _ensure_leaf(pki.qwac_cert, pki.qwac_key, ca, moment, lambda: ca.issue_qwac(DEV_TPP))
    _ensure_leaf(pki.qseal_cert, pki.qseal_key, ca, moment, lambda: ca.issue_qseal(DEV_TPP))
    return pki


def _ensure_ca(pki: DevPki, now: datetime) -> DevCA:
    paths = (pki.root_cert, pki.root_key, pki.issuing_cert, pki.issuing_key)
    if all(p.exists() for p in paths):
        ca = DevCA.load(pki.root_cert.parent)
        if _is_current(ca.issuing.cert, now) and _is_current(ca.root.cert, now):
            return ca
    ca = DevCA.create()
    ca.save(pki.root_cert.parent)
    return ca


def _ensure_leaf(
    cert_path: Path, key_path: Path, ca: DevCA, now: datetime, issue: Callable[[], IssuedCertificate]
) -> None:
    if _leaf_is_usable(cert_path, key_path, ca, now):
        return
    issued = issue()
    write_pem(key_path, issued.key_pem(), private=True)
    write_pem(cert_path, issued.chain_pem())


def _leaf_is_usable(cert_path: Path, key_path: Path, ca: DevCA, now: datetime) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        key = load_private_key(key_path)
        cert.verify_directly_issued_by(ca.issuing.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return _is_current(cert, now) and cert.public_key() == key.public_key()


def _is_current(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_WITHIN < cert.not_valid_after_utc
