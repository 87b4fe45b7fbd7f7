"""verify(): algorithm from the key, declared aliases, mismatches, key size, and Wycheproof."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sig_support import key_of

from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.verify import ECDSA_P256_SHA256, sign_bytes, verify

DATA = b"(request-target): post /v1/payments\ndigest: SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
WYCHEPROOF = Path("/work/shared/testdata/wycheproof")
PKCS1_SHA256 = (padding.PKCS1v15(), hashes.SHA256())
PKCS1_SHA512 = (padding.PKCS1v15(), hashes.SHA512())
PSS_SHA512 = (padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
PSS_SHA256 = (padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def rsa_sig(kind: str, scheme: tuple[Any, Any]) -> bytes:
    return key_of(kind).sign(DATA, *scheme)  # type: ignore[call-arg, union-attr]


@pytest.mark.parametrize(
    ("declared", "scheme"),
    [
        ("rsa-sha256", PKCS1_SHA256),
        ("RSA-SHA256", PKCS1_SHA256),
        ("SHA256withRSA", PKCS1_SHA256),
        ("rsa-v1_5-sha256", PKCS1_SHA256),
        ("rsa-sha512", PKCS1_SHA512),
        ("SHA512withRSA", PKCS1_SHA512),
        ("rsa-pss-sha512", PSS_SHA512),
        ("rsa-pss-sha256", PSS_SHA256),
        ("hs2019", PSS_SHA512),
        ("hs2019", PKCS1_SHA256),
        ("hs2019", PKCS1_SHA512),
        (None, PKCS1_SHA256),
    ],
)
def test_rsa_aliases(declared: str | None, scheme: tuple[Any, Any]) -> None:
    verify(key_of("rsa2048").public_key(), declared, DATA, rsa_sig("rsa2048", scheme))  # type: ignore[arg-type]


def test_hs2019_pkcs1_can_be_switched_off() -> None:
    public = key_of("rsa2048").public_key()
    verify(public, "hs2019", DATA, rsa_sig("rsa2048", PSS_SHA512), hs2019_pkcs1=False)  # type: ignore[arg-type]
    with pytest.raises(SignatureProblem) as caught:
        verify(public, "hs2019", DATA, rsa_sig("rsa2048", PKCS1_SHA256), hs2019_pkcs1=False)  # type: ignore[arg-type]
    assert caught.value.kind is ProblemKind.SIGNATURE_INVALID


@pytest.mark.parametrize(
    ("kind", "declared"),
    [
        ("p256", "ecdsa-sha256"),
        ("p256", "ecdsa-p256-sha256"),
        ("p256", "SHA256withECDSA"),
        ("p256", "hs2019"),
        ("p384", "ecdsa-p384-sha384"),
        ("p384", "hs2019"),
        ("p384", None),
    ],
)
def test_ecdsa_aliases(kind: str, declared: str | None) -> None:
    key = key_of(kind)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    digest = hashes.SHA256() if kind == "p256" else hashes.SHA384()
    verify(key.public_key(), declared, DATA, key.sign(DATA, ec.ECDSA(digest)))


def test_ecdsa_raw_format_for_rfc9421() -> None:
    key = key_of("p256")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    raw = sign_bytes(key, ECDSA_P256_SHA256, DATA, ecdsa_format="raw")
    assert len(raw) == 64
    verify(key.public_key(), "ecdsa-p256-sha256", DATA, raw, ecdsa_format="raw")
    with pytest.raises(SignatureProblem):
        verify(key.public_key(), "ecdsa-p256-sha256", DATA, raw)  # raw is not DER
    with pytest.raises(SignatureProblem):
        verify(key.public_key(), "ecdsa-p256-sha256", DATA, raw[:-1], ecdsa_format="raw")


def test_ed25519() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    verify(key.public_key(), "ed25519", DATA, key.sign(DATA))
    verify(key.public_key(), None, DATA, key.sign(DATA))


@pytest.mark.parametrize(
    ("kind", "declared", "problem"),
    [
        ("p256", "rsa-sha256", ProblemKind.ALGORITHM_MISMATCH),
        ("p256", "SHA256withRSA", ProblemKind.ALGORITHM_MISMATCH),
        ("p256", "ecdsa-p384-sha384", ProblemKind.ALGORITHM_MISMATCH),
        ("p384", "ecdsa-sha256", ProblemKind.ALGORITHM_MISMATCH),
        ("rsa2048", "ecdsa-sha256", ProblemKind.ALGORITHM_MISMATCH),
        ("rsa2048", "ed25519", ProblemKind.ALGORITHM_MISMATCH),
        ("rsa2048", "hmac-sha256", ProblemKind.ALGORITHM_UNSUPPORTED),
        ("rsa2048", "rsa-sha1", ProblemKind.ALGORITHM_UNSUPPORTED),
        ("rsa2048", "", ProblemKind.SIGNATURE_INVALID),
        ("rsa1024", "rsa-sha256", ProblemKind.KEY_TOO_SMALL),
        ("rsa2048", "rsa-sha512", ProblemKind.SIGNATURE_INVALID),
        ("rsa2048", "rsa-pss-sha512", ProblemKind.SIGNATURE_INVALID),
    ],
)
def test_problems(kind: str, declared: str, problem: ProblemKind) -> None:
    """A declared algorithm that contradicts the key, an unknown one, a small key, a bad signature."""
    with pytest.raises(SignatureProblem) as caught:
        verify(key_of(kind).public_key(), declared, DATA, b"\x00" * 256)  # type: ignore[arg-type]
    assert caught.value.kind is problem


def test_unsupported_curve() -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(SignatureProblem) as caught:
        verify(key.public_key(), None, DATA, b"x")  # type: ignore[arg-type]
    assert caught.value.kind is ProblemKind.ALGORITHM_UNSUPPORTED


def test_min_size_is_configurable() -> None:
    public = key_of("rsa2048").public_key()
    with pytest.raises(SignatureProblem) as caught:
        verify(public, "rsa-sha256", DATA, rsa_sig("rsa2048", PKCS1_SHA256), min_rsa_bits=3072)  # type: ignore[arg-type]
    assert caught.value.kind is ProblemKind.KEY_TOO_SMALL
    verify(
        key_of("rsa3072").public_key(),
        "rsa-sha256",
        DATA,
        rsa_sig("rsa3072", PKCS1_SHA256),
        min_rsa_bits=3072,
    )  # type: ignore[arg-type]


WYCHEPROOF_FILES = {
    "rsa_signature_2048_sha256_test.json": "rsa-sha256",
    "rsa_signature_2048_sha512_test.json": "rsa-sha512",
    "rsa_pss_2048_sha256_mgf1_32_test.json": "rsa-pss-sha256",
    "ecdsa_secp256r1_sha256_test.json": "ecdsa-p256-sha256",
    "ecdsa_secp384r1_sha384_test.json": "ecdsa-p384-sha384",
}


def _vectors() -> list[Any]:
    cases = []
    for name, algorithm in WYCHEPROOF_FILES.items():
        for group in json.loads((WYCHEPROOF / name).read_text())["testGroups"]:
            for test in group["tests"]:
                cases.append(
                    pytest.param(algorithm, group["publicKeyDer"], test, id=f"{name[:-10]}-{test['tcId']}")
                )
    return cases


@pytest.mark.skipif(not WYCHEPROOF.is_dir(), reason="shared Wycheproof vectors not mounted")
@pytest.mark.parametrize(("algorithm", "key_der", "test"), _vectors() if WYCHEPROOF.is_dir() else [])
def test_wycheproof(algorithm: str, key_der: str, test: dict[str, Any]) -> None:
    """valid verifies; invalid and acceptable (dubious encodings) are rejected with SIGNATURE_INVALID."""
    key = load_der_public_key(bytes.fromhex(key_der))
    msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    if test["result"] == "valid":
        verify(key, algorithm, msg, sig)  # type: ignore[arg-type]
        return
    with pytest.raises(SignatureProblem) as caught:
        verify(key, algorithm, msg, sig)  # type: ignore[arg-type]
    assert caught.value.kind is ProblemKind.SIGNATURE_INVALID
