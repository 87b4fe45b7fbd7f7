"""Coverage-guided fuzzing (atheris/libFuzzer) of three parsers of untrusted bytes; not a pytest module.

Targets and the only exceptions each may raise:
  target     gateway.target.parse_target(text)              -> Reject (FORMAT_ERROR, 414)
  signature  gateway.signatures.cavage.parse_signature(text) -> SignatureProblem
  qc         gateway.eidas.qcstatements.parse_qc_statements  -> CertificateParseError

Anything else (an IndexError, a RecursionError, a hang past -timeout) is a finding: libFuzzer
stops, prints the traceback and writes the input to ``crash-<sha1>`` in the working directory.

    pip install atheris
    python tests/faults/fuzz_atheris.py target -max_total_time=600 -timeout=5 corpus/target
    python tests/faults/fuzz_atheris.py signature -max_total_time=600 corpus/signature
    python tests/faults/fuzz_atheris.py qc -max_total_time=600 -max_len=4096 corpus/qc
    python tests/faults/fuzz_atheris.py qc crash-<sha1>        # replay one input
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports():
    from gateway.eidas.oids import ALL_ROLES
    from gateway.eidas.qcstatements import (
        CertificateParseError,
        Psd2Statement,
        encode_qc_statements,
        parse_qc_statements,
    )
    from gateway.errors import Reject
    from gateway.signatures.cavage import parse_signature
    from gateway.signatures.errors import SignatureProblem
    from gateway.target import parse_target

SEEDS: dict[str, list[bytes]] = {
    "target": [b"/v1/accounts?withBalance=true", b"/v1/payments/sepa-credit-transfers/%41?a=1&b"],
    "signature": [
        b'keyId="SN=1A,CA=CN=Test QTSP",algorithm="rsa-sha256",headers="digest x-request-id",signature="AAAA"'
    ],
    "qc": [encode_qc_statements(psd2=Psd2Statement(ALL_ROLES, (), "National Bank of Belgium", "BE-NBB"))],
}


def _text(data: bytes) -> str:
    return atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))


def fuzz_target(data: bytes) -> None:
    with contextlib.suppress(Reject):
        parse_target(_text(data))


def fuzz_signature(data: bytes) -> None:
    with contextlib.suppress(SignatureProblem):
        parse_signature(_text(data))


def fuzz_qc(data: bytes) -> None:
    for strict in (True, False):
        with contextlib.suppress(CertificateParseError):
            parse_qc_statements(data, strict=strict)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "target": fuzz_target,
    "signature": fuzz_signature,
    "qc": fuzz_qc,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options] [corpus dirs or files]")
    name = sys.argv.pop(1)
    for seed in SEEDS[name]:  # the seeds must pass before the fuzzer starts
        TARGETS[name](seed)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
