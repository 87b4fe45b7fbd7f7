"""The request pool: N raw 1 KiB POSTs, each sealed with the QSealC and a distinct X-Request-ID.

An RSA-2048 signature costs ~0.7 ms, more than the gateway spends on a whole request, so sealing
happens once before any timing, on every core (``multiprocessing``), and the pool is written to
one file that every configuration and every run replays. Replay protection refuses a second use
of an X-Request-ID, so ``run.py`` deletes the used ids from Redis between full-chain runs.
"""

from __future__ import annotations

import email.utils
import multiprocessing
import os
import signal
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate
from load import write_pool
from material import TARGET, Material

from gateway.signatures.sign import sign_request
from gateway.signatures.verify import PrivateKey

_PAD = "remittanceInformationUnstructured"
_seal: tuple[PrivateKey, object] | None = None


def body_1kib() -> bytes:
    """A payment initiation JSON body of exactly 1024 bytes."""
    head = (
        '{"instructedAmount":{"currency":"EUR","amount":"123.50"},'
        '"debtorAccount":{"iban":"BE68539007547034"},"creditorAccount":{"iban":"BE71096123456769"},'
        f'"creditorName":"Merchant","{_PAD}":"'
    )
    filler = 1024 - len(head) - 2
    return (head + "x" * filler + '"}').encode()


def _init(key_pem: bytes, cert_pem: bytes) -> None:
    global _seal
    # run.py turns SIGTERM into KeyboardInterrupt (to stop its servers); a forked worker that
    # inherited that could ignore the pool's terminate() and hang the bench at its first step.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    key = load_pem_private_key(key_pem, None)
    _seal = (key, load_pem_x509_certificate(cert_pem))  # type: ignore[assignment]


def _sealed(args: tuple[str, str, bytes]) -> bytes:
    token, date, body = args
    assert _seal is not None
    key, cert = _seal
    headers = {
        "X-Request-ID": str(uuid.uuid4()),
        "Date": date,
        "PSU-ID": "PSU-1001",
        "PSU-IP-Address": "192.0.2.10",
        "Content-Type": "application/json",
    }
    added = sign_request("POST", TARGET, headers, body, key=key, certificate=cert)  # type: ignore[arg-type]
    lines = [f"POST {TARGET} HTTP/1.1", "Host: localhost", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in {**headers, **added, "Authorization": f"Bearer {token}"}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build(m: Material, size: int, path: Path) -> Path:
    """Seal ``size`` requests on all cores and write them to ``path``."""
    date = email.utils.formatdate(usegmt=True)
    body = body_1kib()
    with multiprocessing.Pool(
        os.cpu_count() or 1, initializer=_init, initargs=(m.seal.key_pem(), m.seal.cert_pem())
    ) as workers:
        requests = workers.map(_sealed, [(m.token, date, body)] * size, chunksize=500)
    write_pool(path, requests)
    return path
