"""TPP-Signature-Certificate: base64 DER, PEM with or without armour, folded, URL-encoded."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sig_support import key_of, self_signed

from gateway.signatures.certificate_header import (
    MAX_HEADER_LENGTH,
    decode_certificate_header,
    encode_certificate_header,
)
from gateway.signatures.errors import ProblemKind, SignatureProblem

CERT = self_signed(key_of("rsa2048"))
PEM = CERT.public_bytes(Encoding.PEM).decode()
B64 = base64.b64encode(CERT.public_bytes(Encoding.DER)).decode()
BODY = "".join(PEM.splitlines()[1:-1])


@pytest.mark.parametrize(
    "value",
    [
        B64,
        encode_certificate_header(CERT),
        PEM,
        PEM.replace("\n", " "),
        PEM.replace("\n", "\r\n"),
        BODY,
        "\n".join(PEM.splitlines()[1:-1]),
        quote(PEM),
        quote(PEM, safe=""),
        f"  {B64}  ",
        B64.replace("+", "-").replace("/", "_"),
    ],
)
def test_decodes_every_form(value: str) -> None:
    """All the forms TPPs send decode to the same certificate."""
    assert decode_certificate_header(value) == CERT


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, ProblemKind.CERTIFICATE_MISSING),
        ("", ProblemKind.CERTIFICATE_MISSING),
        ("not a certificate", ProblemKind.CERTIFICATE_MALFORMED),
        (B64[:-8], ProblemKind.CERTIFICATE_MALFORMED),
        (base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), ProblemKind.CERTIFICATE_MALFORMED),
        (B64 + "AAAA", ProblemKind.CERTIFICATE_MALFORMED),
        (PEM + PEM, ProblemKind.CERTIFICATE_MALFORMED),
        (PEM.replace("-----END CERTIFICATE-----", ""), ProblemKind.CERTIFICATE_MALFORMED),
        ("garbage" + PEM, ProblemKind.CERTIFICATE_MALFORMED),
        ("A" * (MAX_HEADER_LENGTH + 4), ProblemKind.CERTIFICATE_MALFORMED),
        ("====", ProblemKind.CERTIFICATE_MALFORMED),
    ],
)
def test_refuses_everything_else(value: str | None, kind: ProblemKind) -> None:
    with pytest.raises(SignatureProblem) as caught:
        decode_certificate_header(value)
    assert (caught.value.kind, caught.value.header) == (kind, "TPP-Signature-Certificate")
