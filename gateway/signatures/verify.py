"""Verify a signature with a certificate's public key, the algorithm derived from the key.

The key decides the algorithm family; a declared algorithm may only narrow it. A declared
``rsa-sha256`` with an EC key is ALGORITHM_MISMATCH, not a silent fallback, which closes the
algorithm-confusion hole draft-cavage-12 section 2.1.3 warns about.

``hs2019`` (draft-cavage-12 section 6.2) means "derive from the key". For RSA keys the draft
names RSASSA-PSS with SHA-512; TPPs under Berlin Group 1.3 also send ``hs2019`` with
PKCS#1 v1.5 signatures, so after PSS-SHA512 we accept PKCS#1 v1.5 with SHA-256 or SHA-512
(``hs2019_pkcs1=False`` turns that off). Each candidate is a complete, standard signature
scheme over the same key, so accepting several does not let one forge another.

Wycheproof ``acceptable`` vectors (legal but dubious encodings) are rejected: DER signatures
must re-encode byte for byte, RSA signatures must be exactly the modulus length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.per_object import per_object

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
Family = Literal["rsa", "secp256r1", "secp384r1", "ed25519"]
EcdsaFormat = Literal["der", "raw"]


@dataclass(frozen=True)
class Scheme:
    family: Family
    padding: Literal["pkcs1", "pss", "none"]
    hash: Literal["sha256", "sha384", "sha512", "none"]


RSA_PKCS1_SHA256 = Scheme("rsa", "pkcs1", "sha256")
RSA_PKCS1_SHA512 = Scheme("rsa", "pkcs1", "sha512")
RSA_PSS_SHA256 = Scheme("rsa", "pss", "sha256")
RSA_PSS_SHA512 = Scheme("rsa", "pss", "sha512")
ECDSA_P256_SHA256 = Scheme("secp256r1", "none", "sha256")
ECDSA_P384_SHA384 = Scheme("secp384r1", "none", "sha384")
ED25519 = Scheme("ed25519", "none", "none")

# Lower-cased declared names -> scheme. RFC 9421 section 6.2.2 names, draft-cavage names, JCA names.
ALGORITHMS: dict[str, Scheme] = {
    "rsa-sha256": RSA_PKCS1_SHA256, "sha256withrsa": RSA_PKCS1_SHA256, "rsa-v1_5-sha256": RSA_PKCS1_SHA256,
    "rsa-sha512": RSA_PKCS1_SHA512, "sha512withrsa": RSA_PKCS1_SHA512,
    "rsa-pss-sha256": RSA_PSS_SHA256, "sha256withrsa/pss": RSA_PSS_SHA256,
    "rsa-pss-sha512": RSA_PSS_SHA512, "sha512withrsa/pss": RSA_PSS_SHA512,
    "ecdsa-sha256": ECDSA_P256_SHA256, "ecdsa-p256-sha256": ECDSA_P256_SHA256,
    "sha256withecdsa": ECDSA_P256_SHA256,
    "ecdsa-sha384": ECDSA_P384_SHA384, "ecdsa-p384-sha384": ECDSA_P384_SHA384,
    "sha384withecdsa": ECDSA_P384_SHA384,
    "ed25519": ED25519,
}  # fmt: skip

_DERIVED: dict[Family, tuple[Scheme, ...]] = {
    "rsa": (RSA_PSS_SHA512, RSA_PKCS1_SHA256, RSA_PKCS1_SHA512),
    "secp256r1": (ECDSA_P256_SHA256,),
    "secp384r1": (ECDSA_P384_SHA384,),
    "ed25519": (ED25519,),
}
_CURVES: dict[str, Family] = {"secp256r1": "secp256r1", "secp384r1": "secp384r1"}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
}  # fmt: skip


def _problem(kind: ProblemKind, header: str, text: str) -> SignatureProblem:
    return SignatureProblem(kind, header, text)


def key_family(key: object, header: str = "Signature") -> Family:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        return _CURVES[key.curve.name]
    raise _unsupported_key(header)


def _unsupported_key(header: str) -> SignatureProblem:
    return _problem(ProblemKind.ALGORITHM_UNSUPPORTED, header, "the certificate's key type is not supported")


def schemes_for(
    family: Family, declared: str | None, *, hs2019_pkcs1: bool = True, header: str = "Signature"
) -> tuple[Scheme, ...]:
    """The schemes to try, in order, for a key of ``family`` and the declared algorithm name."""
    name = (declared or "hs2019").strip().lower()
    if name == "hs2019":
        derived = _DERIVED[family]
        return derived if hs2019_pkcs1 or family != "rsa" else derived[:1]
    scheme = ALGORITHMS.get(name)
    if scheme is None:
        raise _problem(ProblemKind.ALGORITHM_UNSUPPORTED, header, "the signature algorithm is not supported")
    if scheme.family != family:
        raise _problem(
            ProblemKind.ALGORITHM_MISMATCH, header, "the algorithm does not fit the certificate's key"
        )
    return (scheme,)


def rsa_padding(scheme: Scheme) -> padding.AsymmetricPadding:
    if scheme.padding == "pss":
        # RFC 9421 section 3.3.1: MGF1 with the same hash, salt as long as the hash output.
        digest = _HASHES[scheme.hash]
        return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    return _PKCS1V15


_PKCS1V15 = padding.PKCS1v15()  # immutable, no parameters: one for every call


def hash_of(scheme: Scheme) -> hashes.HashAlgorithm:
    return _HASHES[scheme.hash]


def _strict_der(signature: bytes) -> bytes | None:
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return None
    return signature if encode_dss_signature(r, s) == signature else None


def _raw_to_der(key: ec.EllipticCurvePublicKey, signature: bytes) -> bytes | None:
    size = (key.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        return None
    return encode_dss_signature(int.from_bytes(signature[:size]), int.from_bytes(signature[size:]))


@per_object(maxsize=1024)
def _described(key: PublicKey) -> tuple[Family, int] | None:
    """The key's family and, for RSA, its size in bits; None when not supported.

    Once per key object (``public_key_of`` keeps one per certificate): each ``isinstance``
    against cryptography's key ABCs costs ~0.2 µs, and a verify made eight of them.
    """
    try:
        family = key_family(key)
    except SignatureProblem:
        return None
    return family, key.key_size if isinstance(key, rsa.RSAPublicKey) else 0


def _verify_one(
    key: PublicKey,
    family: Family,
    rsa_bits: int,
    scheme: Scheme,
    data: bytes,
    signature: bytes,
    fmt: EcdsaFormat,
) -> bool:
    try:
        if family == "rsa":
            if len(signature) != (rsa_bits + 7) // 8:
                return False
            cast(rsa.RSAPublicKey, key).verify(signature, data, rsa_padding(scheme), _HASHES[scheme.hash])
        elif family == "ed25519":
            cast(ed25519.Ed25519PublicKey, key).verify(signature, data)
        else:
            ec_key = cast(ec.EllipticCurvePublicKey, key)
            der = _raw_to_der(ec_key, signature) if fmt == "raw" else _strict_der(signature)
            if der is None:
                return False
            ec_key.verify(der, data, ec.ECDSA(_HASHES[scheme.hash]))
    except InvalidSignature:
        return False
    return True


def verify(
    public_key: PublicKey,
    declared_algorithm: str | None,
    data: bytes,
    signature: bytes,
    *,
    min_rsa_bits: int = 2048,
    ecdsa_format: EcdsaFormat = "der",
    hs2019_pkcs1: bool = True,
    header: str = "Signature",
) -> None:
    """Raise ``SignatureProblem`` unless ``signature`` over ``data`` verifies with ``public_key``.

    ``ecdsa_format`` is ``der`` for draft-cavage and ``raw`` (r||s) for RFC 9421 section 3.3.4.
    """
    described = _described(public_key)
    if described is None:
        raise _unsupported_key(header)
    family, rsa_bits = described
    if family == "rsa" and rsa_bits < min_rsa_bits:
        raise _problem(ProblemKind.KEY_TOO_SMALL, header, f"RSA keys below {min_rsa_bits} bits are refused")
    for scheme in schemes_for(family, declared_algorithm, hs2019_pkcs1=hs2019_pkcs1, header=header):
        if _verify_one(public_key, family, rsa_bits, scheme, data, signature, ecdsa_format):
            return
    raise _problem(
        ProblemKind.SIGNATURE_INVALID, header, f"{header} does not verify with the certificate's key"
    )


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def sign_bytes(key: PrivateKey, scheme: Scheme, data: bytes, *, ecdsa_format: EcdsaFormat = "der") -> bytes:
    """The signing side of the same scheme table: what ``sign.py`` and RFC 9421 signing use."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, rsa_padding(scheme), _HASHES[scheme.hash])
    if isinstance(key, ec.EllipticCurvePrivateKey):
        der = key.sign(data, ec.ECDSA(_HASHES[scheme.hash]))
        if ecdsa_format == "der":
            return der
        size = (key.curve.key_size + 7) // 8
        r, s = decode_dss_signature(der)
        return r.to_bytes(size) + s.to_bytes(size)
    return key.sign(data)
