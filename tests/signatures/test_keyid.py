"""The Berlin Group keyId and issuer DNs, compared as a serial integer and an attribute set."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from sig_support import issuer_name, key_of, self_signed

from gateway.signatures.dn import parse_dn
from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.keyid import check_key_id, format_key_id, key_id_matches, parse_key_id

CERT = self_signed(key_of("p256"), serial=0x9FA1)
CA = "CN=D-TRUST CA 2-1 2015,O=D-Trust GmbH,2.5.4.97=NTRDE-HRB74346,C=DE"


@pytest.mark.parametrize(
    "key_id",
    [
        f"SN=9FA1,CA={CA}",
        f"SN=9fa1,CA={CA}",
        f"SN=0x9FA1,CA={CA}",
        f"SN=00009FA1,CA={CA}",
        f"sn=9FA1, ca={CA}",
        "SN=9FA1,CA=C=DE,organizationIdentifier=NTRDE-HRB74346,O=D-Trust GmbH,CN=D-TRUST CA 2-1 2015",
        "SN=9FA1,CA=/C=DE/O=D-Trust GmbH/organizationIdentifier=NTRDE-HRB74346/CN=D-TRUST CA 2-1 2015",
        "SN=9FA1,CA=CN = d-trust  ca 2-1 2015 , O=D-TRUST GMBH, OID.2.5.4.97=ntrde-hrb74346, countryName=de",
        'SN=9FA1,CA=CN="D-TRUST CA 2-1 2015",O="D-Trust GmbH",2.5.4.97=NTRDE-HRB74346,C=DE',
        "SN=9FA1,CA=CN=D-TRUST\\20CA 2-1 2015,O=D-Trust GmbH,2.5.4.97=NTRDE-HRB74346,C=DE",
        "SN%3D9FA1%2CCA%3DCN%3DD-TRUST%20CA%202-1%202015%2CO%3DD-Trust%20GmbH%2C2.5.4.97%3DNTRDE-HRB74346%2CC%3DDE",
        format_key_id(CERT),
    ],
)
def test_matching_spellings(key_id: str) -> None:
    """Hex case, 0x, leading zeros, DN order/spacing/case, OpenSSL one-line, URL encoding all match."""
    assert key_id_matches(parse_key_id(key_id), CERT)
    check_key_id(key_id, CERT)


@pytest.mark.parametrize(
    "key_id",
    [
        f"SN=9FA2,CA={CA}",
        f"SN=40865,CA={CA}",  # 0x9FA1 written in decimal: refused unless the bank opts in
        "SN=9FA1,CA=CN=D-TRUST CA 2-1 2015,O=D-Trust GmbH,C=DE",
        f"SN=9FA1,CA={CA},OU=Extra",
        "SN=9FA1,CA=CN=D-TRUST CA 2-1 2016,O=D-Trust GmbH,2.5.4.97=NTRDE-HRB74346,C=DE",
    ],
)
def test_mismatches(key_id: str) -> None:
    """A different serial, or an issuer with a missing, extra or different attribute, does not match."""
    assert not key_id_matches(parse_key_id(key_id), CERT)
    with pytest.raises(SignatureProblem) as caught:
        check_key_id(key_id, CERT)
    assert caught.value.kind is ProblemKind.KEY_ID_MISMATCH


def test_decimal_serial_is_opt_in() -> None:
    key_id = parse_key_id(f"SN=40865,CA={CA}")
    assert key_id.decimal_serial == 40865 and key_id.serial == 0x40865
    assert key_id_matches(key_id, CERT, accept_decimal=True)


@pytest.mark.parametrize(
    "key_id",
    [
        "",
        "9FA1",
        f"CA={CA}",
        f"SN=,CA={CA}",
        f"SN=xyz,CA={CA}",
        f"SN=-1,CA={CA}",
        "SN=9FA1,CA=",
        "SN=9FA1,CA=not a dn",
        "SN=9FA1,CA==x",
        "SN=9FA1%FF,CA=CN=x",
        "SN=" + "F" * 70 + ",CA=CN=x",
        "SN=1,CA=CN=" + "x" * 3000,
    ],
)
def test_malformed_key_ids(key_id: str) -> None:
    with pytest.raises(SignatureProblem) as caught:
        parse_key_id(key_id)
    assert (caught.value.kind, caught.value.header) == (ProblemKind.KEY_ID_MALFORMED, "Signature")


def test_escaped_and_unescaped_commas_in_values() -> None:
    """``\\,`` is part of a value; so is an unescaped comma not followed by attribute=."""
    expected = frozenset({("2.5.4.10", "bank, inc."), ("2.5.4.6", "de")})
    assert parse_dn("O=Bank\\, Inc.,C=DE") == expected
    assert parse_dn("O=Bank, Inc.,C=DE") == expected
    assert parse_dn('O="Bank, Inc.",C=DE') == expected
    assert parse_dn("O=Bank\\2C Inc.,C=DE") == expected


def test_name_attributes_normalise() -> None:
    assert parse_dn("E=a@b.de,SERIALNUMBER=1,ST=Bayern,L=München") == parse_dn(
        "/emailAddress=A@B.DE/serialNumber=1/stateOrProvinceName=bayern/localityName=MÜNCHEN"
    )


def test_multi_valued_rdn_and_unicode_certificate() -> None:
    name = x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Zürich CA"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
                ]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "A+B AG")]),
        ]
    )
    cert = self_signed(key_of("p256"), serial=1, issuer=name)
    assert key_id_matches(parse_key_id(format_key_id(cert)), cert)
    assert key_id_matches(parse_key_id("SN=01,CA=CN=Zürich CA+C=CH,O=A+B AG"), cert)
    assert not key_id_matches(
        parse_key_id(format_key_id(cert)), self_signed(key_of("p256"), 1, issuer_name())
    )
