"""Totality: arbitrary text into every parser raises nothing but SignatureProblem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sig_support import key_of, rfc_public, self_signed

from gateway.signatures import cavage
from gateway.signatures.cavage import parse_authorization, parse_signature, signing_string
from gateway.signatures.certificate_header import decode_certificate_header
from gateway.signatures.digest import make_digest, verify_content_digest, verify_digest
from gateway.signatures.errors import SignatureProblem
from gateway.signatures.freshness import check_skew
from gateway.signatures.keyid import format_key_id, key_id_matches, parse_key_id
from gateway.signatures.rfc9421 import Message, verify_message

CERT = self_signed(key_of("p256"))
ED25519 = rfc_public("test-key-ed25519")
MESSAGE = Message("POST", "https://example.com/foo?a=1", {"Date": "x", "Content-Type": "application/json"})

# Text biased towards the syntax each parser cares about, plus anything at all.
SYNTAX = st.sampled_from(
    [*'=,;:"\\()/+%# \t', "SN=", "CA=", "CN=", "keyId=", "sig1=", "SHA-256=", "-----BEGIN"]
)
TEXT = st.one_of(st.text(), st.lists(st.one_of(SYNTAX, st.text(max_size=4)), max_size=40).map("".join))


def _total(call: Callable[[], Any]) -> None:
    try:
        call()
    except SignatureProblem as e:
        assert e.text and e.header


PARSERS: dict[str, Callable[[str], Any]] = {
    "digest": lambda t: verify_digest(t, b"body"),
    "content-digest": lambda t: verify_content_digest(t, b"body"),
    "signature": parse_signature,
    "authorization": lambda t: parse_authorization("Signature " + t),
    "key-id": lambda t: key_id_matches(parse_key_id(t), CERT),
    "date": lambda t: check_skew(t, 1.75e9),
    "certificate": decode_certificate_header,
    "rfc9421-input": lambda t: verify_message(MESSAGE, t, "sig1=:AAAA:", ED25519),
    "rfc9421-signature": lambda t: verify_message(MESSAGE, 'sig1=("@method")', t, ED25519),
    "signing-string": lambda t: signing_string("POST", t, {"Date": t}, t.lower().split() or ["date"]),
}


@pytest.mark.parametrize("name", list(PARSERS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_parsers_are_total(name: str, text: str) -> None:
    _total(lambda: PARSERS[name](text))


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=2048))
def test_digest_round_trip(body: bytes) -> None:
    verify_digest(make_digest(body), body)
    verify_digest(make_digest(body, "SHA-512"), body)


@settings(max_examples=100, deadline=None)
@given(serial=st.integers(min_value=1, max_value=2**159 - 1), zeros=st.integers(0, 3), lower=st.booleans())
def test_key_id_serial_spellings(serial: int, zeros: int, lower: bool) -> None:
    """Any hex spelling of the certificate's serial parses to the same integer."""
    text = "0" * zeros + (f"{serial:x}" if lower else f"{serial:X}")
    assert parse_key_id(f"SN={text},CA=CN=x").serial == serial


def test_formatted_key_id_matches() -> None:
    assert key_id_matches(parse_key_id(format_key_id(CERT)), CERT)


PARAM_TEXT = st.lists(
    st.one_of(
        st.sampled_from(['"', ",", "=", " ", "\t", "\\", "keyId", "KEYID", "headers", "a b"]),
        st.text(max_size=3),
    ),
    max_size=24,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(PARAM_TEXT, TEXT))
def test_quoted_fast_path_agrees_with_the_general_parser(text: str) -> None:
    """The Signature parser's one-split fast path accepts exactly what the general one does, alike."""
    fast = cavage._split_quoted(text)
    try:
        general = cavage._split_general(text, "Signature")
    except SignatureProblem:
        assert fast is None
        return
    assert fast is None or fast == general


WS = st.sampled_from(["", " ", "\t", " \t "])
QUOTED_PARAM = st.tuples(
    WS,
    st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", fullmatch=True),
    WS,
    WS,
    st.text(alphabet=st.characters(blacklist_characters='"\\'), max_size=12),
    WS,
).map(lambda p: f'{p[0]}{p[1]}{p[2]}={p[3]}"{p[4]}"{p[5]}')


@settings(max_examples=300, deadline=None)
@given(params=st.lists(QUOTED_PARAM, min_size=1, max_size=5))
def test_well_formed_quoted_headers_take_the_fast_path(params: list[str]) -> None:
    text = ",".join(params)
    try:
        general = cavage._split_general(text, "Signature")
    except SignatureProblem:  # a name twice
        assert cavage._split_quoted(text) is None
        return
    assert cavage._split_quoted(text) == general
