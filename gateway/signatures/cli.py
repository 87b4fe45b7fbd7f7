"""``psd2-gateway sign``: print the headers that seal a request, for TPP developers and bank testers.

    psd2-gateway sign --cert qseal.pem --key qseal.key.pem --method POST \\
        --target /v1/payments/sepa-credit-transfers --header 'X-Request-ID: 99391c7e-...' \\
        --body-file body.json [--scheme rfc9421] [--curl]

``Date`` and ``X-Request-ID`` are generated when not given, and printed with the rest, because
the Berlin Group profile signs both.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.signatures.errors import SignatureProblem
from gateway.signatures.sign import DEFAULT_SIGNED_HEADERS, sign_request
from gateway.signatures.verify import PrivateKey


def add_sign_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sign", help="print the Digest/Signature/TPP-Signature-Certificate headers for a request"
    )
    parser.add_argument("--cert", type=Path, required=True, help="the QSealC, PEM")
    parser.add_argument("--key", type=Path, required=True, help="its private key, PEM (unencrypted)")
    parser.add_argument("--method", default="POST")
    parser.add_argument(
        "--target", required=True, help="path and query, e.g. /v1/payments/sepa-credit-transfers"
    )
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--body-file", type=Path, help="the exact body bytes to send; '-' reads stdin")
    parser.add_argument("--scheme", choices=("cavage", "rfc9421"), default="cavage")
    parser.add_argument("--signed-headers", default=",".join(DEFAULT_SIGNED_HEADERS), help="comma-separated")
    parser.add_argument("--algorithm", help="e.g. rsa-sha256, rsa-pss-sha512; default derives from the key")
    parser.add_argument("--curl", action="store_true", help="print curl -H arguments instead of header lines")
    return parser


def _headers(raw: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--header {line!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def _with_defaults(headers: dict[str, str]) -> dict[str, str]:
    generated: dict[str, str] = {}
    names = {n.lower() for n in headers}
    if "date" not in names:
        generated["Date"] = formatdate(usegmt=True)
    if "x-request-id" not in names:
        generated["X-Request-ID"] = str(uuid.uuid4())
    return generated


def _body(path: Path | None) -> bytes:
    if path is None:
        return b""
    return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()


def _key(path: Path) -> PrivateKey:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, PrivateKey):
        raise ValueError("the key must be RSA, EC P-256/P-384 or Ed25519")
    return key


def run_sign(args: argparse.Namespace) -> int:
    try:
        headers = _headers(args.header)
        generated = _with_defaults(headers)
        added = sign_request(
            args.method,
            args.target,
            {**headers, **generated},
            _body(args.body_file),
            key=_key(args.key),
            certificate=x509.load_pem_x509_certificate(args.cert.read_bytes()),
            scheme=args.scheme,
            signed_headers=[n.strip() for n in args.signed_headers.split(",") if n.strip()],
            algorithm=args.algorithm,
        )
    except (OSError, ValueError, TypeError, SignatureProblem) as e:
        print(f"psd2-gateway sign: {e}", file=sys.stderr)
        return 2
    for name, value in {**generated, **added}.items():
        print(f"-H {shlex.quote(f'{name}: {value}')}" if args.curl else f"{name}: {value}")
    return 0
