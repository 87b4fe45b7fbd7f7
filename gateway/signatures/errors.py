"""The one error every function in ``gateway.signatures`` raises.

    Exception
     └── SignatureProblem(kind, header, text)

``kind`` says what went wrong, ``header`` which request header it is about, ``text`` a sentence
that is safe to show a TPP: it names the header, never echoes its value or a parser's internals.
Mapping a kind to a Berlin Group ``tppMessages`` code is the policy layer's job, not ours.
"""

from __future__ import annotations

from enum import StrEnum


class ProblemKind(StrEnum):
    DIGEST_MISSING = "DIGEST_MISSING"
    DIGEST_MALFORMED = "DIGEST_MALFORMED"
    DIGEST_UNSUPPORTED = "DIGEST_UNSUPPORTED"
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SIGNATURE_MALFORMED = "SIGNATURE_MALFORMED"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_EXPIRED = "SIGNATURE_EXPIRED"
    COMPONENT_UNSUPPORTED = "COMPONENT_UNSUPPORTED"
    HEADER_MISSING = "HEADER_MISSING"
    HEADER_NOT_SIGNED = "HEADER_NOT_SIGNED"
    HEADER_NOT_ALLOWED = "HEADER_NOT_ALLOWED"
    KEY_ID_MALFORMED = "KEY_ID_MALFORMED"
    KEY_ID_MISMATCH = "KEY_ID_MISMATCH"
    ALGORITHM_UNSUPPORTED = "ALGORITHM_UNSUPPORTED"
    ALGORITHM_MISMATCH = "ALGORITHM_MISMATCH"
    KEY_TOO_SMALL = "KEY_TOO_SMALL"
    CERTIFICATE_MISSING = "CERTIFICATE_MISSING"
    CERTIFICATE_MALFORMED = "CERTIFICATE_MALFORMED"
    DATE_MISSING = "DATE_MISSING"
    DATE_INVALID = "DATE_INVALID"
    DATE_SKEW = "DATE_SKEW"


class SignatureProblem(Exception):
    """A request-integrity check failed; ``text`` is fit for the TPP's eyes."""

    def __init__(self, kind: ProblemKind, header: str, text: str) -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind
        self.header = header
        self.text = text

    def __repr__(self) -> str:
        return f"SignatureProblem({self.kind!s}, {self.header!r}, {self.text!r})"
