"""The on-disk dev PKI is created once, reused after, and repaired when a piece expires or goes missing."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from gateway.eidas.devpki import DevPki, ensure_dev_pki
from gateway.eidas.identity import identity_from_certificate
from gateway.eidas.oids import ALL_ROLES


def _snapshot(pki: DevPki) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in vars(pki).items() if name != "directory"}


def _first_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return ensure_dev_pki(tmp_path_factory.mktemp("dev"))


def test_layout_and_contents(pki: DevPki) -> None:
    """Every path exists; the QWAC is the dev TPP with all four roles; keys are 0600."""
    for name, path in vars(pki).items():
        assert name == "directory" or path.is_file(), name
    tpp = identity_from_certificate(_first_cert(pki.qwac_cert), strict=True)
    assert (tpp.organization_name, tpp.organization_id, tpp.roles) == (
        "Dev TPP Ltd",
        "PSDBE-NBB-0123456789",
        ALL_ROLES,
    )
    assert identity_from_certificate(_first_cert(pki.qseal_cert), strict=True).qc_types == {"eseal"}
    assert pki.root_key.name.endswith(".test-key.pem")
    for key in (pki.root_key, pki.issuing_key, pki.server_key, pki.qwac_key, pki.qseal_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert len(x509.load_pem_x509_certificates(pki.trust_bundle.read_bytes())) == 2


def test_leaf_files_carry_the_chain(pki: DevPki) -> None:
    """Leaf PEM files hold the leaf then the issuing CA, as load_cert_chain wants."""
    issuing = _first_cert(pki.issuing_cert)
    for path in (pki.server_cert, pki.qwac_cert, pki.qseal_cert):
        chain = x509.load_pem_x509_certificates(path.read_bytes())
        assert chain[1:] == [issuing]
        chain[0].verify_directly_issued_by(issuing)


def test_idempotent(pki: DevPki) -> None:
    """A second run changes nothing."""
    before = _snapshot(pki)
    assert ensure_dev_pki(pki.directory) == pki
    assert _snapshot(pki) == before


def test_reissues_expiring_leaves_only(tmp_path: Path) -> None:
    """Leaves about to expire are re-issued from the same CA; the CA stays."""
    pki = ensure_dev_pki(tmp_path)
    before = _snapshot(pki)
    ensure_dev_pki(tmp_path, now=datetime.now(UTC) + timedelta(days=400))
    after = _snapshot(pki)
    assert after["root_cert"] == before["root_cert"] and after["issuing_key"] == before["issuing_key"]
    assert after["qwac_cert"] != before["qwac_cert"] and after["server_key"] != before["server_key"]


def test_repairs_missing_key_and_replaced_ca(tmp_path: Path) -> None:
    """A missing leaf key is re-issued; a new CA re-issues every leaf so the chain holds."""
    pki = ensure_dev_pki(tmp_path)
    pki.qwac_key.unlink()
    ensure_dev_pki(tmp_path)
    assert pki.qwac_key.exists()
    pki.issuing_key.unlink()
    ensure_dev_pki(tmp_path)
    issuing = _first_cert(pki.issuing_cert)
    for path in (pki.server_cert, pki.qwac_cert, pki.qseal_cert):
        _first_cert(path).verify_directly_issued_by(issuing)
