"""OCSP: request building, and responses accepted only when signed right and about our certificate."""

from __future__ import annotations

import pytest
from cryptography.x509 import ocsp
from support.revocation_server import Mode, RevocationServer

from gateway.eidas.issue import DevCA, IssuedCertificate, KeyType
from gateway.eidas.ocsp import build_request, issuer_key_hash, responder_url

from .factories import MakeChecker


@pytest.mark.parametrize("key_type", ["ec-p256", "rsa2048"])
def test_issuer_key_hash_is_the_certid_one(key_type: KeyType) -> None:
    """issuer_key_hash equals the issuerKeyHash cryptography puts in a SHA-1 CertID."""
    ca = DevCA.create(key_type=key_type)
    request = ocsp.load_der_ocsp_request(build_request(ca.issue_qwac().cert, ca.issuing.cert))
    assert request.issuer_key_hash == issuer_key_hash(ca.issuing.cert)
    assert request.hash_algorithm.name == "sha1"


def test_request_carries_the_nonce(server: RevocationServer, qwac: IssuedCertificate) -> None:
    """A nonce given to build_request is in the request's extensions."""
    request = ocsp.load_der_ocsp_request(build_request(qwac.cert, server.ca.issuing.cert, b"n" * 16))
    assert [e.value.nonce for e in request.extensions] == [b"n" * 16]


def test_responder_url(server: RevocationServer, qwac: IssuedCertificate) -> None:
    """The AIA OCSP URL is found; a certificate without AIA has none."""
    assert responder_url(qwac.cert) == f"{server.url}/ocsp"
    assert responder_url(DevCA.create().issue_qwac().cert) is None


@pytest.mark.parametrize("delegated", [False, True], ids=["issuer-signed", "delegated"])
@pytest.mark.parametrize(
    ("listed_in", "expected"), [(None, "good"), ("revoked", "revoked"), ("unknown", "unavailable")]
)
async def test_ocsp_status(
    server: RevocationServer,
    qwac: IssuedCertificate,
    make_checker: MakeChecker,
    delegated: bool,
    listed_in: str | None,
    expected: str,
) -> None:
    """GOOD, REVOKED and UNKNOWN answers, signed by the issuer or a delegated responder, map to verdicts."""
    server.delegated = delegated
    if listed_in is not None:
        getattr(server, listed_in).add(qwac.cert.serial_number)
    checker = await make_checker(mode="ocsp")
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == (expected, "ocsp")
    assert (server.ocsp_requests, checker.stats.responder_errors) == (1, 0)


async def test_nonce_round_trip(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """With ocsp_nonce the responder's echo of the nonce is accepted."""
    checker = await make_checker(mode="ocsp", ocsp_nonce=True)
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "good"


@pytest.mark.parametrize("mode", ["bad-signature", "wrong-certid", "try-later", "garbage"])
@pytest.mark.parametrize("delegated", [False, True], ids=["issuer-signed", "delegated"])
async def test_bad_ocsp_answer_is_unavailable(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, mode: Mode, delegated: bool
) -> None:
    """A bad signature, a wrong CertID, tryLater or garbage is no answer, and counts as a responder error."""
    server.mode, server.delegated = mode, delegated
    checker = await make_checker(mode="ocsp")
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("unavailable", "none")
    assert checker.stats.responder_errors == 1


async def test_delegate_without_ocsp_signing_eku_is_refused(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """A responder certificate without id-kp-OCSPSigning may not speak for the issuer."""
    server.delegated, server.delegate_eku = True, False
    checker = await make_checker(mode="ocsp")
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "unavailable"


async def test_delegate_of_another_ca_is_refused(server: RevocationServer, make_checker: MakeChecker) -> None:
    """Answers signed by another CA's delegate are refused for this issuer's certificates."""
    other = DevCA.create("Other QTSP", revocation_base_url=server.url)
    server.attach(other)
    server.delegated = True
    victim = DevCA.create(revocation_base_url=server.url)
    checker = await make_checker(mode="ocsp")
    verdict = await checker.status(victim.issue_qwac().cert, victim.issuing.cert)
    assert verdict.status == "unavailable"
