"""Seal a request the way a TPP does: for tests, benchmarks and TPP developers (``psd2-gateway sign``).

``cavage`` (NextGenPSD2 1.3): ``Digest`` (SHA-256 over the body bytes), ``Signature`` with the
Berlin Group keyId ``SN=<hex serial>,CA=<issuer RFC 4514>``, ``TPP-Signature-Certificate``
(base64 DER). ``rfc9421``: ``Content-Digest``, ``Signature-Input``, ``Signature`` with the same
keyId, plus ``TPP-Signature-Certificate`` because the verifier needs the certificate either way.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Literal

from cryptography import x509

from gateway.signatures import rfc9421
from gateway.signatures.cavage import header_index, signing_string
from gateway.signatures.certificate_header import encode_certificate_header
from gateway.signatures.digest import make_content_digest, make_digest
from gateway.signatures.keyid import format_key_id
from gateway.signatures.structured import Params
from gateway.signatures.verify import Family, PrivateKey, key_family, schemes_for, sign_bytes

Scheme = Literal["cavage", "rfc9421"]

# Berlin Group: digest and x-request-id always, the PSU/redirect headers when sent, and date.
DEFAULT_SIGNED_HEADERS = ("digest", "x-request-id", "date", "psu-id", "psu-corporate-id", "tpp-redirect-uri")
_PSEUDO = ("(request-target)", "(created)", "(expires)")
_CAVAGE_ALGORITHMS: dict[Family, str] = {
    "rsa": "rsa-sha256", "secp256r1": "ecdsa-sha256", "secp384r1": "ecdsa-p384-sha384", "ed25519": "ed25519",
}  # fmt: skip
_RFC9421_ALGORITHMS: dict[Family, str] = {
    "rsa": "rsa-pss-sha512", "secp256r1": "ecdsa-p256-sha256", "secp384r1": "ecdsa-p384-sha384",
    "ed25519": "ed25519",
}  # fmt: skip
_RFC9421_NAMES = {"(request-target)": "@request-target", "digest": "content-digest"}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _present(names: Sequence[str], headers: dict[str, str]) -> list[str]:
    """Names the request carries (and pseudo-headers); absent optional headers are not signed."""
    index = header_index(headers)
    return [n.lower() for n in names if n.lower() in index or n.lower() in _PSEUDO]


def _sign_cavage(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    key: PrivateKey,
    names: Sequence[str],
    algorithm: str | None,
    created: int | None,
) -> dict[str, str]:
    digest = make_digest(body)
    signed = {**headers, "Digest": digest}
    covered = _present(names, signed)
    algorithm = algorithm or _CAVAGE_ALGORITHMS[key_family(key)]
    data = signing_string(method, target, signed, covered, created=created)
    signature = sign_bytes(key, schemes_for(key_family(key), algorithm)[0], data)
    params = [f"algorithm={_quoted(algorithm)}", f"headers={_quoted(' '.join(covered))}"]
    if created is not None:
        params.append(f"created={created}")
    params.append(f"signature={_quoted(base64.b64encode(signature).decode('ascii'))}")
    return {"Digest": digest, "Signature": ",".join(params)}


def _sign_rfc9421(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    key: PrivateKey,
    names: Sequence[str],
    algorithm: str | None,
    created: int | None,
    key_id: str,
) -> dict[str, str]:
    content_digest = make_content_digest(body)
    signed = {**headers, "Content-Digest": content_digest}
    index = header_index(signed)
    wanted = [_RFC9421_NAMES.get(n.lower(), n.lower()) for n in names]
    components = ["@method", *(n for n in wanted if n.startswith("@") or n in index)]
    alg = algorithm or _RFC9421_ALGORITHMS[key_family(key)]
    params: Params = {
        "created": int(time.time()) if created is None else created,
        "keyid": key_id,
        "alg": alg,
    }
    host = index.get("host", ["localhost"])[0]
    uri = f"https://{host}{target}" if target.startswith("/") else target
    message = rfc9421.Message(method, uri, signed)
    covered = rfc9421.covered_components(list(dict.fromkeys(components)), params)
    signature_input, signature = rfc9421.sign_message(message, covered, key, alg=alg)
    return {"Content-Digest": content_digest, "Signature-Input": signature_input, "Signature": signature}


def sign_request(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    scheme: Scheme = "cavage",
    signed_headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
    algorithm: str | None = None,
    created: int | None = None,
) -> dict[str, str]:
    """The headers to add to the request so that it carries a Berlin Group seal by ``certificate``.

    ``target`` is the path and query (``/v1/payments/...?x=1``), or an absolute URI for rfc9421.
    Names in ``signed_headers`` the request does not carry are left out of the signature.
    """
    key_id = format_key_id(certificate)
    if scheme == "cavage":
        added = _sign_cavage(method, target, headers, body, key, signed_headers, algorithm, created)
        added["Signature"] = f"keyId={_quoted(key_id)}," + added["Signature"]
    else:
        added = _sign_rfc9421(method, target, headers, body, key, signed_headers, algorithm, created, key_id)
    added["TPP-Signature-Certificate"] = encode_certificate_header(certificate)
    return added
