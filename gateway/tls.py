"""The TPP-facing TLS context: TLS 1.2/1.3, forward-secret AEAD suites, client certificates.

QTSPs issue QWACs from intermediate ("issuing") CAs, and banks usually trust exactly those
issuing CAs, so a non-self-signed CA in the bundle must be accepted as an anchor
(``VERIFY_X509_PARTIAL_CHAIN``; Python 3.13 sets it by default, 3.11 does not). Strict
verification (``VERIFY_X509_STRICT``) rejects malformed certificates OpenSSL would let pass.
Session tickets are off: a resumed session would skip the certificate (and revocation) check.
The handshake does not check validity dates (``X509_V_FLAG_NO_CHECK_TIME``): the application
validator always does, and answers an expired QWAC with a precise CERTIFICATE_EXPIRED body
instead of an opaque handshake failure.
"""

from __future__ import annotations

import _ssl
import ctypes
import ssl
from pathlib import Path

from gateway.errors import GatewayError

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME; Python's ssl module has no name for it.
X509_V_FLAG_NO_CHECK_TIME = 0x200000

# ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (TLS 1.2 names; 1.3 suites are all AEAD).
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


def server_context(
    cert: Path,
    key: Path,
    client_ca: Path | None,
    *,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """The listener's context; any unreadable file is a start-up error naming it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_SINGLE_ECDH_USE
    _load(ctx.load_cert_chain, "tls.cert/tls.key", cert, key)
    if client_ca is not None:
        _load(ctx.load_verify_locations, "tls.client-ca", client_ca)
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT | X509_V_FLAG_NO_CHECK_TIME
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        _tune_openssl(ctx)
    elif require_client_cert:
        raise GatewayError("tls.client-ca: a CA bundle is required when client certificates are required")
    return ctx


# OpenSSL: X509_PURPOSE_ANY, and SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT.
_X509_PURPOSE_ANY = 7
_SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_OFF = 44, 0
_VERIFY_MODES = {ssl.CERT_REQUIRED: 3, ssl.CERT_OPTIONAL: 1}


def _tune_openssl(ctx: ssl.SSLContext) -> None:
    """Two OpenSSL settings Python's ssl module does not expose, set through ctypes.

    * Accept QWACs whose EKU lacks clientAuth (serverAuth-only QWACs): OpenSSL checks the
      "SSL client" purpose of a client certificate, which fails them, and QTSPs are dropping
      clientAuth from QWACs from 2026 (``SSL_CTX_set_purpose(ANY)``). The EKU itself is still
      judged by the application validator (identity.require-client-auth-eku).
    * No server-side session cache (``SSL_CTX_set_session_cache_mode(OFF)``): with tickets
      already off, no session is ever resumed, so every connection presents its certificate.
    pyOpenSSL cannot drive asyncio's TLS transport, hence ctypes on the context's ``SSL_CTX``.
    The pointer is used only after ``SSL_CTX_get_verify_mode`` read through it agrees with
    Python's view; otherwise nothing is changed (serverAuth-only QWACs then fail the handshake,
    and sessions may resume: both safe, as every request is validated at application level).
    """
    try:
        lib = ctypes.CDLL(_ssl.__file__)
        get_mode, set_purpose, ctrl = lib.SSL_CTX_get_verify_mode, lib.SSL_CTX_set_purpose, lib.SSL_CTX_ctrl
    except (OSError, AttributeError):
        return
    get_mode.argtypes, get_mode.restype = [ctypes.c_void_p], ctypes.c_int
    set_purpose.argtypes, set_purpose.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_int
    ctrl.argtypes, ctrl.restype = (
        [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p],
        ctypes.c_long,
    )
    # PySSLContext starts with PyObject_HEAD followed by the SSL_CTX pointer (CPython 3.11-3.14).
    pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if pointer and get_mode(pointer) == _VERIFY_MODES.get(ctx.verify_mode):
        set_purpose(pointer, _X509_PURPOSE_ANY)
        ctrl(pointer, _SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_OFF, None)


def client_context(
    ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    """A context for calling a TLS server (the core, or the gateway in tests)."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        _load(ctx.load_cert_chain, "client certificate", cert, key)
    return ctx


def _load(loader: object, what: str, *paths: Path | None) -> None:
    try:
        loader(*(str(p) for p in paths if p is not None))  # type: ignore[operator]
    except (OSError, ssl.SSLError) as e:
        names = ", ".join(str(p) for p in paths if p is not None)
        raise GatewayError(f"{what}: cannot load {names}: {getattr(e, 'strerror', None) or e}") from e
