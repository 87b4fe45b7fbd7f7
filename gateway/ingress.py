"""Ingress mode: the client certificate arrives in a header set by a trusted proxy.

nginx sends it as URL-encoded PEM (``$ssl_client_escaped_cert``) or PEM with its newlines
folded, Envoy in ``X-Forwarded-Client-Cert`` (``Cert="<url-encoded PEM>";Chain=...``), and
some load balancers as base64 DER. The header is believed only from configured proxy
addresses; from anywhere else it is ignored (and never forwarded).
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from gateway.errors import Code, Reject

Format = Literal["auto", "pem", "url-pem", "base64-der", "xfcc"]
MAX_HEADER_BYTES = 32 * 1024

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_XFCC_PAIR = re.compile(r'\s*([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^;,]*)\s*([;,]|$)')


@dataclass(frozen=True, slots=True)
class IngressCertificate:
    leaf: bytes
    chain: tuple[bytes, ...]


class TrustedProxies:
    def __init__(self, networks: Sequence[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __contains__(self, peer_ip: str) -> bool:
        try:
            address = ipaddress.ip_address(peer_ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


@functools.lru_cache(maxsize=1024)
def certificate_from_header(value: str, fmt: Format) -> IngressCertificate:
    """Decode the forwarded certificate; anything unreadable is a clean CERTIFICATE_INVALID."""
    if len(value) > MAX_HEADER_BYTES:
        raise _unreadable()
    if fmt == "auto":
        fmt = _guess(value)
    if fmt == "xfcc":
        return _from_xfcc(value)
    if fmt == "base64-der":
        return IngressCertificate(_base64(value), ())
    # PEM never contains "%": a "%" means URL-encoding, whatever the configured format says.
    text = unquote(value) if fmt == "url-pem" or "%" in value else value
    blocks = [_base64(b) for b in _PEM_BLOCK.findall(text)]
    if not blocks:
        raise _unreadable()
    return IngressCertificate(blocks[0], tuple(blocks[1:]))


def _guess(value: str) -> Format:
    stripped = value.strip()
    if stripped.startswith("-----") or stripped.lower().startswith("%2d%2d"):
        return "pem"
    if "Cert=" in stripped or "Hash=" in stripped or "By=" in stripped:
        return "xfcc"
    return "base64-der"


def _from_xfcc(value: str) -> IngressCertificate:
    """The element added by the nearest proxy is the last one (each proxy appends with ',')."""
    elements: list[dict[str, str]] = [{}]
    for match in _XFCC_PAIR.finditer(value):
        name, raw, separator = match.groups()
        elements[-1][name.lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        if separator == ",":
            elements.append({})
    nearest = next((e for e in reversed(elements) if "cert" in e), None)
    if nearest is None:
        raise _unreadable()
    leaf = certificate_from_header(unquote(nearest["cert"]), "pem").leaf
    chain = certificate_from_header(unquote(nearest["chain"]), "pem") if "chain" in nearest else None
    return IngressCertificate(leaf, chain.chain if chain else ())


def _base64(text: str) -> bytes:
    compact = re.sub(r"\s+", "", text)
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _unreadable() from e
    if not der.startswith(b"\x30"):  # a DER certificate is a SEQUENCE; the identity stage parses the rest
        raise _unreadable()
    return der


def _unreadable() -> Reject:
    return Reject(
        Code.CERTIFICATE_INVALID, "The forwarded client certificate cannot be read.", rule="identity"
    )
