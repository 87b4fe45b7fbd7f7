"""sign_request -> verify round trips for every key type, tampering, and the ``sign`` CLI."""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from sig_support import PAYMENT_BODY, key_of, payment_headers, self_signed

from gateway.eidas.issue import DevCA, IssuedCertificate
from gateway.signatures import verify_cavage_request
from gateway.signatures.cavage import berlin_group_policy
from gateway.signatures.cli import add_sign_parser, run_sign
from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.freshness import parse_date
from gateway.signatures.rfc9421 import Message, verify_message
from gateway.signatures.sign import sign_request
from gateway.signatures.verify import PrivateKey

TARGET = "/v1/payments/sepa-credit-transfers"
POLICY = berlin_group_policy(require_request_target=True)
SIGNED = ("(request-target)", "digest", "x-request-id", "date", "psu-id", "tpp-redirect-uri")
NOW = parse_date(payment_headers()["Date"])


@cache
def dev_ca() -> DevCA:
    return DevCA.create()


@cache
def sealer(kind: str) -> tuple[PrivateKey, x509.Certificate]:
    """A QSealC from the dev QTSP for the DevCA key types, a self-signed one for the others."""
    if kind in ("rsa2048", "rsa3072", "ec-p256"):
        issued: IssuedCertificate = dev_ca().issue_qseal(key_type=kind)  # type: ignore[arg-type]
        return issued.key, issued.cert
    key = key_of(kind)
    return key, self_signed(key)


KINDS = [
    ("rsa2048", None),
    ("rsa3072", None),
    ("rsa2048", "rsa-pss-sha512"),
    ("ec-p256", None),
    ("p384", None),
]


def _sealed(kind: str, algorithm: str | None) -> tuple[dict[str, str], x509.Certificate]:
    key, cert = sealer(kind)
    headers = payment_headers()
    added = sign_request(
        "POST",
        TARGET,
        headers,
        PAYMENT_BODY,
        key=key,
        certificate=cert,
        signed_headers=SIGNED,
        algorithm=algorithm,
    )
    return {**headers, **added}, cert


@pytest.mark.parametrize(("kind", "algorithm"), KINDS)
def test_cavage_round_trip(kind: str, algorithm: str | None) -> None:
    """A request sealed by sign_request passes the whole Berlin Group check."""
    headers, cert = _sealed(kind, algorithm)
    assert verify_cavage_request("POST", TARGET, headers, PAYMENT_BODY, policy=POLICY, now=NOW) == cert
    assert headers["Signature"].startswith(f'keyId="SN={cert.serial_number:X},CA=')


@pytest.mark.parametrize(("kind", "algorithm"), KINDS)
def test_rfc9421_round_trip(kind: str, algorithm: str | None) -> None:
    key, cert = sealer(kind)
    headers = payment_headers()
    added = sign_request(
        "POST",
        TARGET,
        headers,
        PAYMENT_BODY,
        key=key,
        certificate=cert,
        scheme="rfc9421",
        signed_headers=SIGNED,
        algorithm=algorithm,
        created=int(NOW),
    )
    message = Message("POST", f"https://localhost{TARGET}", {**headers, **added})
    public = cert.public_key()
    chosen = verify_message(
        message, added["Signature-Input"], added["Signature"], public, algorithm=algorithm
    )  # type: ignore[arg-type]
    assert chosen.component_names == (
        "@method",
        "@request-target",
        "content-digest",
        "x-request-id",
        "date",
        "psu-id",
        "tpp-redirect-uri",
    )


def _tamper(value: str) -> str:
    return value[:-1] + ("x" if value[-1] != "x" else "y")


@pytest.mark.parametrize("name", ["Digest", "X-Request-ID", "Date", "PSU-ID", "TPP-Redirect-URI"])
def test_one_changed_byte_in_a_covered_header_fails(name: str) -> None:
    headers, _ = _sealed("rsa2048", None)
    headers[name] = _tamper(headers[name])
    with pytest.raises(SignatureProblem) as caught:
        verify_cavage_request("POST", TARGET, headers, PAYMENT_BODY, policy=POLICY)
    expected = {"Digest": (ProblemKind.DIGEST_MALFORMED, ProblemKind.DIGEST_MISMATCH)}.get(
        name, (ProblemKind.SIGNATURE_INVALID,)
    )
    assert caught.value.kind in expected


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("POST", TARGET + "x", PAYMENT_BODY),
        ("PUT", TARGET, PAYMENT_BODY),
        ("POST", TARGET, PAYMENT_BODY[:-1] + b" "),
    ],
)
def test_changed_target_method_or_body_fails(method: str, target: str, body: bytes) -> None:
    headers, _ = _sealed("rsa2048", None)
    with pytest.raises(SignatureProblem) as caught:
        verify_cavage_request(method, target, headers, body, policy=POLICY)
    assert caught.value.kind in (ProblemKind.SIGNATURE_INVALID, ProblemKind.DIGEST_MISMATCH)


def test_request_checks_in_order() -> None:
    """Missing certificate, unsigned PSU-ID, foreign keyId and stale Date are each reported as such."""
    headers, _ = _sealed("rsa2048", None)
    cases: list[tuple[dict[str, str], ProblemKind, float | None]] = [
        (
            {k: v for k, v in headers.items() if k != "TPP-Signature-Certificate"},
            ProblemKind.CERTIFICATE_MISSING,
            None,
        ),
        ({k: v for k, v in headers.items() if k != "Signature"}, ProblemKind.SIGNATURE_MISSING, None),
        ({**headers, "PSU-Corporate-ID": "corp"}, ProblemKind.HEADER_NOT_SIGNED, None),
        (
            {
                **headers,
                "TPP-Signature-Certificate": _sealed("ec-p256", None)[0]["TPP-Signature-Certificate"],
            },
            ProblemKind.KEY_ID_MISMATCH,
            None,
        ),
        (headers, ProblemKind.DATE_SKEW, NOW + 3600),
    ]
    for request_headers, kind, now in cases:
        with pytest.raises(SignatureProblem) as caught:
            verify_cavage_request("POST", TARGET, request_headers, PAYMENT_BODY, policy=POLICY, now=now)
        assert caught.value.kind is kind


def _cli(tmp_path: Path, *extra: str) -> list[str]:
    issued = dev_ca().issue_qseal(key_type="rsa2048")
    (tmp_path / "qseal.pem").write_bytes(issued.cert_pem())
    (tmp_path / "qseal.key.pem").write_bytes(issued.key_pem())
    (tmp_path / "body.json").write_bytes(PAYMENT_BODY)
    parser = argparse.ArgumentParser()
    add_sign_parser(parser.add_subparsers())
    return [
        "sign",
        "--cert",
        str(tmp_path / "qseal.pem"),
        "--key",
        str(tmp_path / "qseal.key.pem"),
        "--target",
        TARGET,
        "--header",
        "X-Request-ID: 1234",
        "--body-file",
        str(tmp_path / "body.json"),
        *extra,
    ]


def test_cli_prints_verifiable_headers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_sign_parser(parser.add_subparsers())
    assert run_sign(parser.parse_args(_cli(tmp_path))) == 0
    lines = capsys.readouterr().out.splitlines()
    headers = dict(line.split(": ", 1) for line in lines)
    assert {"Date", "Digest", "Signature", "TPP-Signature-Certificate"} <= set(headers)
    verify_cavage_request(
        "POST", TARGET, {**headers, "X-Request-ID": "1234"}, PAYMENT_BODY, policy=berlin_group_policy()
    )


def test_cli_curl_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_sign_parser(parser.add_subparsers())
    assert run_sign(parser.parse_args(_cli(tmp_path, "--curl", "--scheme", "rfc9421"))) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("-H '") for line in out) and any("Signature-Input: sig1=(" in o for o in out)
    assert run_sign(parser.parse_args(_cli(tmp_path, "--header", "no colon"))) == 2
    assert "not 'Name: value'" in capsys.readouterr().err
