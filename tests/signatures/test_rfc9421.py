"""RFC 9421 Appendix B.2 test cases with the Appendix B.1 keys, and the parser's refusals."""

from __future__ import annotations

import pytest
from sig_support import rfc_private, rfc_public, shared_secret

from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.rfc9421 import (
    Message,
    parse_signature_input,
    parse_signatures,
    sign_message,
    signature_base,
    verify_message,
)

# RFC 9421 Appendix B.2: the test request and response.
REQUEST = Message(
    "POST",
    "https://example.com/foo?param=Value&Pet=dog",
    {
        "Host": "example.com",
        "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
        "Content-Type": "application/json",
        "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFC"
        "hF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        "Content-Length": "18",
    },
)
RESPONSE = Message(
    "POST",
    "https://example.com/foo?param=Value&Pet=dog",
    {
        "Date": "Tue, 20 Apr 2021 02:07:56 GMT",
        "Content-Type": "application/json",
        "Content-Digest": "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvx"
        "oYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:",
        "Content-Length": "23",
    },
    status=200,
)
DIGEST_LINE = '"content-digest": ' + str(REQUEST.headers["Content-Digest"])
VECTORS = {
    "B.2.1": (
        "test-key-rsa-pss",
        REQUEST,
        'sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"',
        "sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUop"
        "emLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZs"
        "ckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8"
        "xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56Y"
        "CE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVP"
        "nP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8I"
        "U1bLhdxO5Nyt8C8ssinQ98Xw9Q==:",
        '"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"',
    ),
    "B.2.2": (
        "test-key-rsa-pss",
        REQUEST,
        'sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;'
        'keyid="test-key-rsa-pss";tag="header-example"',
        "sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7Gr"
        "cQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMk"
        "SowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyF"
        "YXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqW"
        "FQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4"
        "jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0"
        "aaUEb0rQl3/XaVe4bXTugEjHSw==:",
        f'"@authority": example.com\n{DIGEST_LINE}\n"@query-param";name="Pet": dog\n'
        '"@signature-params": ("@authority" "content-digest" "@query-param";name="Pet")'
        ';created=1618884473;keyid="test-key-rsa-pss";tag="header-example"',
    ),
    "B.2.3": (
        "test-key-rsa-pss",
        REQUEST,
        'sig-b23=("date" "@method" "@path" "@query" "@authori'
        'ty" "content-type" "content-digest" "content-length")'
        ';created=1618884473;keyid="test-key-rsa-pss"',
        "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0"
        "yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp7"
        "68ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V"
        "5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW9"
        "1kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f"
        "8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJy"
        "oEZAFL2FUo5fTIztsDZKEgM4cUA==:",
        '"date": Tue, 20 Apr 2021 02:07:55 GMT\n"@method": POST\n"@path": /foo\n'
        '"@query": ?param=Value&Pet=dog\n'
        f'"@authority": example.com\n"content-type": application/json\n{DIGEST_LINE}\n'
        '"content-length": 18\n'
        '"@signature-params": ("date" "@method" "@path" "@q'
        'uery" "@authority" "content-type" "content-digest" '
        '"content-length");created=1618884473;keyid="test-key-rsa-pss"',
    ),
    "B.2.4": (
        "test-key-ecc-p256",
        RESPONSE,
        'sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;'
        'keyid="test-key-ecc-p256"',
        "sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:",
        '"@status": 200\n"content-type": application/json\n"content-digest": '
        + str(RESPONSE.headers["Content-Digest"])
        + '\n"content-length": 23\n'
        '"@signature-params": ("@status" "content-type" "content-digest" "content-length")'
        ';created=1618884473;keyid="test-key-ecc-p256"',
    ),
    "B.2.5": (
        "test-shared-secret",
        REQUEST,
        'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
        "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
        '"date": Tue, 20 Apr 2021 02:07:55 GMT\n"@authority": example.com\n"content-type": application/json\n'
        '"@signature-params": ("date" "@authority" "content-'
        'type");created=1618884473;keyid="test-shared-secret"',
    ),
    "B.2.6": (
        "test-key-ed25519",
        REQUEST,
        'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;'
        'keyid="test-key-ed25519"',
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
        '"date": Tue, 20 Apr 2021 02:07:55 GMT\n"@method": POST\n"@path": /foo\n"@authority": example.com\n'
        '"content-type": application/json\n"content-length":'
        ' 18\n"@signature-params": ("date" "@method" "@path" '
        '"@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
    ),
}


@pytest.mark.parametrize("case", list(VECTORS))
def test_appendix_b2_signature_base_and_verify(case: str) -> None:
    """The signature base is byte-exact and the published signature verifies with the B.1 key."""
    key_name, message, signature_input, signature, base = VECTORS[case]
    parsed = next(iter(parse_signature_input(signature_input).values()))
    assert signature_base(message, parsed.covered) == base.encode()
    key = shared_secret() if key_name == "test-shared-secret" else rfc_public(key_name)
    assert verify_message(message, signature_input, signature, key).label == parsed.label


@pytest.mark.parametrize(
    ("case", "key_name"), [("B.2.5", "test-shared-secret"), ("B.2.6", "test-key-ed25519")]
)
def test_deterministic_signatures_are_byte_exact(case: str, key_name: str) -> None:
    """HMAC and Ed25519 are deterministic, so signing reproduces the RFC's values exactly."""
    _, message, signature_input, signature, _ = VECTORS[case]
    parsed = next(iter(parse_signature_input(signature_input).values()))
    key = shared_secret() if key_name == "test-shared-secret" else rfc_private(key_name)
    assert sign_message(message, parsed.covered, key, label=parsed.label) == (signature_input, signature)


def test_a_changed_covered_header_fails() -> None:
    _, message, signature_input, signature, _ = VECTORS["B.2.6"]
    changed = Message(message.method, message.target_uri, {**message.headers, "Content-Length": "19"})
    with pytest.raises(SignatureProblem) as caught:
        verify_message(changed, signature_input, signature, rfc_public("test-key-ed25519"))
    assert caught.value.kind is ProblemKind.SIGNATURE_INVALID


def test_required_components_and_expiry() -> None:
    _, message, signature_input, signature, _ = VECTORS["B.2.6"]
    key = rfc_public("test-key-ed25519")
    with pytest.raises(SignatureProblem) as caught:
        verify_message(message, signature_input, signature, key, required=["content-digest"])
    assert (caught.value.kind, caught.value.header) == (ProblemKind.HEADER_NOT_SIGNED, "content-digest")
    with pytest.raises(SignatureProblem) as caught:
        verify_message(message, signature_input, signature, key, algorithm="rsa-pss-sha512")
    assert caught.value.kind is ProblemKind.ALGORITHM_MISMATCH


SI = 'sig1=("@method");created=1'
PROBLEMS = [
    (None, "sig1=:AAAA:", ProblemKind.SIGNATURE_MISSING),
    (SI, None, ProblemKind.SIGNATURE_MISSING),
    ("sig1=(", "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1="@method"', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ("sig1=(@method)", "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("@Method")', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("@method" "@method")', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("@method");created="1"', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("@method");keyid=tok', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("@query-param")', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("content-type";sf)', "sig1=:AAAA:", ProblemKind.COMPONENT_UNSUPPORTED),
    ('sig1=("content-digest";key="sha-512")', "sig1=:AAAA:", ProblemKind.COMPONENT_UNSUPPORTED),
    ('sig1=("content-type";bs)', "sig1=:AAAA:", ProblemKind.COMPONENT_UNSUPPORTED),
    ('sig1=("@method";req)', "sig1=:AAAA:", ProblemKind.COMPONENT_UNSUPPORTED),
    ('sig1=("@unknown")', "sig1=:AAAA:", ProblemKind.COMPONENT_UNSUPPORTED),
    (SI, "sig1=AAAA", ProblemKind.SIGNATURE_MALFORMED),
    (SI, "sig1=::", ProblemKind.SIGNATURE_MALFORMED),
    (SI, "sig2=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    (SI + ', sig2=("@path")', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("x-absent")', "sig1=:AAAA:", ProblemKind.HEADER_MISSING),
    ('sig1=("@query-param";name="nope")', "sig1=:AAAA:", ProblemKind.HEADER_MISSING),
    ('sig1=("@status")', "sig1=:AAAA:", ProblemKind.SIGNATURE_MALFORMED),
    ('sig1=("@method");alg="rsa-sha1"', "sig1=:AAAA:", ProblemKind.ALGORITHM_UNSUPPORTED),
    ('sig1=("@method");expires=2', "sig1=:AAAA:", ProblemKind.SIGNATURE_EXPIRED),
    (SI, "sig1=:AAAA:", ProblemKind.SIGNATURE_INVALID),
]


@pytest.mark.parametrize(("signature_input", "signature", "kind"), PROBLEMS)
def test_problems(signature_input: str | None, signature: str | None, kind: ProblemKind) -> None:
    with pytest.raises(SignatureProblem) as caught:
        verify_message(REQUEST, signature_input, signature, rfc_public("test-key-ed25519"), now=10)
    assert caught.value.kind is kind


def test_derived_components() -> None:
    """@target-uri, @scheme, @request-target, default-port removal and @query-param re-encoding."""
    message = Message("GET", "HTTPS://Example.COM:443/p%20q?a=b+c&n%20m=x%2Fy&a=2", {})
    names = ["@target-uri", "@scheme", "@authority", "@request-target", "@query"]
    sig_input = (
        "s=(" + " ".join(f'"{n}"' for n in names) + ' "@query-param";name="a" "@query-param";name="n%20m")'
    )
    base = signature_base(message, parse_signature_input(sig_input)["s"].covered).decode().splitlines()
    assert base[:5] == [
        '"@target-uri": HTTPS://Example.COM:443/p%20q?a=b+c&n%20m=x%2Fy&a=2',
        '"@scheme": https',
        '"@authority": example.com',
        '"@request-target": /p%20q?a=b+c&n%20m=x%2Fy&a=2',
        '"@query": ?a=b+c&n%20m=x%2Fy&a=2',
    ]
    assert base[5:8] == [
        '"@query-param";name="a": b%20c',
        '"@query-param";name="a": 2',
        '"@query-param";name="n%20m": x%2Fy',
    ]
    assert parse_signatures("a=:AAAA:, b=:AQID:") == {"a": b"\x00\x00\x00", "b": b"\x01\x02\x03"}
