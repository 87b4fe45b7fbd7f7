"""Forwarded client certificates: every encoding an ingress uses, and no crash on any input."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from gateway.eidas.issue import DevCA
from gateway.errors import Code, Reject
from gateway.ingress import TrustedProxies, certificate_from_header

CA = DevCA.create()
QWAC = CA.issue_qwac()
DER = QWAC.cert.public_bytes(Encoding.DER)
PEM = QWAC.cert_pem().decode()
CHAIN_PEM = QWAC.chain_pem().decode()


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        (PEM, "pem"),
        (PEM, "auto"),
        (PEM.replace("\n", " "), "auto"),  # nginx $ssl_client_cert folded onto one line
        (PEM.replace("\n", "\t"), "auto"),
        (quote(PEM), "url-pem"),  # nginx $ssl_client_escaped_cert
        (quote(PEM), "auto"),
        (base64.b64encode(DER).decode(), "base64-der"),
        (base64.b64encode(DER).decode(), "auto"),
        (f'By=spiffe://a;Hash=00;Cert="{quote(PEM)}";Subject="CN=x";URI=', "xfcc"),
        (f'By=a;Cert="{quote(CA.root.cert_pem().decode())}",By=b;Cert="{quote(PEM)}"', "xfcc"),
    ],
)
def test_each_encoding_yields_the_leaf(value: str, fmt: str) -> None:
    """PEM, folded PEM, URL-encoded PEM, base64 DER and XFCC (nearest proxy last) all decode."""
    assert certificate_from_header(value, fmt).leaf == DER  # type: ignore[arg-type]


def test_pem_chain_and_xfcc_chain_are_kept() -> None:
    """Intermediates sent after the leaf are passed on for path building."""
    assert len(certificate_from_header(CHAIN_PEM, "pem").chain) == 1
    xfcc = f'Cert="{quote(PEM)}";Chain="{quote(CHAIN_PEM)}"'
    assert len(certificate_from_header(xfcc, "xfcc").chain) == 1


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----",
        "Cert=",
        "By=x;Hash=y",
        "A" * 40_000,
        base64.b64encode(b"\x01\x02").decode(),
    ],
)
def test_unreadable_values_are_certificate_invalid(value: str) -> None:
    """Anything that is not a certificate is a clean CERTIFICATE_INVALID."""
    with pytest.raises(Reject) as caught:
        certificate_from_header(value, "auto")
    assert caught.value.code is Code.CERTIFICATE_INVALID


@given(st.text(max_size=400), st.sampled_from(["auto", "pem", "url-pem", "base64-der", "xfcc"]))
def test_any_header_value_decodes_or_is_rejected(value: str, fmt: str) -> None:
    """No header value raises anything but a Reject."""
    try:
        certificate_from_header(value, fmt)  # type: ignore[arg-type]
    except Reject as e:
        assert e.code is Code.CERTIFICATE_INVALID


@pytest.mark.parametrize(
    ("networks", "peer", "trusted"),
    [
        (["127.0.0.1/32"], "127.0.0.1", True),
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], "11.1.2.3", False),
        (["::1/128"], "::1", True),
        (["10.0.0.0/8"], "", False),
        (["10.0.0.0/8"], "not-an-ip", False),
    ],
)
def test_trusted_proxies(networks: list[str], peer: str, trusted: bool) -> None:
    """Only configured addresses may forward a certificate."""
    assert (peer in TrustedProxies(networks)) is trusted
