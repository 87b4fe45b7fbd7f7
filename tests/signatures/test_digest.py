"""Digest (RFC 3230/5843) and Content-Digest (RFC 9530) over the body bytes as received."""

from __future__ import annotations

import pytest

from gateway.signatures.digest import (
    EMPTY_SHA256,
    EMPTY_SHA512,
    make_content_digest,
    make_digest,
    parse_digest,
    verify_content_digest,
    verify_digest,
)
from gateway.signatures.errors import ProblemKind, SignatureProblem

BODY = b'{"hello": "world"}'
SHA256 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
SHA512 = "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="


def test_empty_body_digests_are_the_published_constants() -> None:
    """The digest of no body is the digest of b"", not a missing value."""
    assert make_digest(b"") == EMPTY_SHA256
    assert make_digest(b"", "sha-512") == EMPTY_SHA512
    verify_digest(EMPTY_SHA256, b"")
    verify_digest(EMPTY_SHA512, b"")


@pytest.mark.parametrize(
    "header",
    [
        f"SHA-256={SHA256}",
        f"sha-256={SHA256}",
        f"SHA256={SHA256}",
        f"sha256={SHA256}",
        f"SHA-512={SHA512}",
        f"sha-512={SHA512}",
        f"SHA512={SHA512}",
        f"SHA-256={SHA256}, SHA-512={SHA512}",
        f"MD5=Sd/dVLAcvNLSq16eXua5uQ==,SHA-256={SHA256}",
        f"  SHA-256={SHA256}  ",
        f"UNIXsum=30637,SHA-256={SHA256}",
    ],
)
def test_accepted_spellings(header: str) -> None:
    """Algorithm names are case-insensitive, aliases work, unsupported instances are skipped."""
    verify_digest(header, BODY)


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (None, ProblemKind.DIGEST_MISSING),
        ("", ProblemKind.DIGEST_MISSING),
        ("   ", ProblemKind.DIGEST_MISSING),
        ("MD5=Sd/dVLAcvNLSq16eXua5uQ==", ProblemKind.DIGEST_UNSUPPORTED),
        ("SHA=2jmj7l5rSw0yVb/vlWAYkK/YBwk=", ProblemKind.DIGEST_UNSUPPORTED),
        ("SHA-1=2jmj7l5rSw0yVb/vlWAYkK/YBwk=", ProblemKind.DIGEST_UNSUPPORTED),
        ("BLAKE3=abc", ProblemKind.DIGEST_UNSUPPORTED),
        ("SHA-256", ProblemKind.DIGEST_MALFORMED),
        ("=abc", ProblemKind.DIGEST_MALFORMED),
        (f"SHA-256={SHA256},", ProblemKind.DIGEST_MALFORMED),
        ("SHA-256=not base64!", ProblemKind.DIGEST_MALFORMED),
        (f'SHA-256="{SHA256}"', ProblemKind.DIGEST_MALFORMED),
        ("SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE", ProblemKind.DIGEST_MALFORMED),
        ("SHA-256=2jmj7l5rSw0yVb/vlWAYkK/YBwk=", ProblemKind.DIGEST_MALFORMED),
        ("SHA-256=" + "A" * 5000, ProblemKind.DIGEST_MALFORMED),
        (EMPTY_SHA256, ProblemKind.DIGEST_MISMATCH),
        (f"SHA-256={SHA256}, {EMPTY_SHA512}", ProblemKind.DIGEST_MISMATCH),
        (
            f"SHA-512={SHA512},SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            ProblemKind.DIGEST_MISMATCH,
        ),
    ],
)
def test_digest_problems(header: str | None, kind: ProblemKind) -> None:
    """Each malformed, unsupported or wrong Digest gets its own kind, naming the header."""
    with pytest.raises(SignatureProblem) as caught:
        verify_digest(header, BODY)
    assert (caught.value.kind, caught.value.header) == (kind, "Digest")
    assert "not base64!" not in caught.value.text


def test_parse_returns_supported_instances_in_order() -> None:
    assert [alg for alg, _ in parse_digest(f"SHA-512={SHA512},md5=x,sha-256={SHA256}")] == [
        "sha-512",
        "sha-256",
    ]


@pytest.mark.parametrize("position", range(len(BODY)))
def test_one_changed_body_byte_fails(position: int) -> None:
    """The digest is over the exact bytes: any single changed byte is a mismatch."""
    tampered = bytearray(BODY)
    tampered[position] ^= 0x01
    with pytest.raises(SignatureProblem) as caught:
        verify_digest(make_digest(BODY), bytes(tampered))
    assert caught.value.kind is ProblemKind.DIGEST_MISMATCH


def test_reserialised_json_is_not_the_body() -> None:
    """Whitespace differences in JSON are a different body (what re-serialising verifiers miss)."""
    with pytest.raises(SignatureProblem):
        verify_digest(make_digest(b'{"hello":"world"}'), BODY)


@pytest.mark.parametrize(
    "header",
    [
        f"sha-512=:{SHA512}:",
        f"sha-256=:{SHA256}:",
        f"sha-256=:{SHA256}:, sha-512=:{SHA512}:",
        f"unixsum=:AAAA:, sha-256=:{SHA256}:",
        f"md5=:Sd/dVLAcvNLSq16eXua5uQ==:, sha-256=:{SHA256}:",
    ],
)
def test_content_digest_accepts(header: str) -> None:
    """RFC 9530: a dictionary of byte sequences; the RFC 9421 B.2 request body digest verifies."""
    verify_content_digest(header, BODY)


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (None, ProblemKind.DIGEST_MISSING),
        (f"sha-256={SHA256}", ProblemKind.DIGEST_MALFORMED),
        ("sha-256=:!!:", ProblemKind.DIGEST_MALFORMED),
        ("sha-256=:AAAA:", ProblemKind.DIGEST_MALFORMED),
        ("SHA-256=:AAAA:", ProblemKind.DIGEST_MALFORMED),
        ("md5=:Sd/dVLAcvNLSq16eXua5uQ==:", ProblemKind.DIGEST_UNSUPPORTED),
        ("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:", ProblemKind.DIGEST_MISMATCH),
    ],
)
def test_content_digest_problems(header: str | None, kind: ProblemKind) -> None:
    with pytest.raises(SignatureProblem) as caught:
        verify_content_digest(header, BODY)
    assert (caught.value.kind, caught.value.header) == (kind, "Content-Digest")


def test_make_content_digest_round_trips() -> None:
    assert make_content_digest(BODY, "sha-512") == f"sha-512=:{SHA512}:"
    verify_content_digest(make_content_digest(b""), b"")


def test_make_digest_refuses_md5() -> None:
    with pytest.raises(SignatureProblem) as caught:
        make_digest(BODY, "MD5")
    assert caught.value.kind is ProblemKind.DIGEST_UNSUPPORTED
