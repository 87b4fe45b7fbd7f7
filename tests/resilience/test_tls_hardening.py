"""TLS at the TPP listener: only TLS 1.2/1.3 with forward-secret AEAD suites, no tickets, no renegotiation.

Each refusal is checked against a permissive control server on the same certificate, so a
client that could not even offer the old protocol or suite does not pass for a refusal.
The last test runs testssl.sh against a real gateway process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.pki import Pem, TestPki
from support.process import GatewayProcess

# Old protocol versions are deprecated names in Python's ssl module: offering them is the point here.
pytestmark = [pytest.mark.resilience, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TESTSSL_BUDGET_S = 150
# testssl findings about the test certificate itself (its issuer, revocation URLs, lifetime), not the
# listener's configuration: the dev/test PKI is not a public one.
CERTIFICATE_FINDINGS = ("cert", "intermediate_cert", "chain_of_trust", "DNS_CAArecord", "OCSP_stapling")


@pytest.fixture(scope="module")
def gateway_process(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One real gateway process for the module (TLS settings as shipped)."""
    directory = tmp_path_factory.mktemp("tls-gateway")
    gateway = GatewayProcess(directory, pki, "http://127.0.0.1:9").start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def control_port(pki: TestPki) -> Iterator[int]:
    """A permissive TLS server (TLS 1.0+, any suite) on the gateway's certificate, in a thread."""

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.load_cert_chain(pki.server.cert, pki.server.key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


def legacy_client(pki: TestPki, tpp: Pem, version: ssl.TLSVersion, ciphers: str | None) -> ssl.SSLContext:
    ctx = pki.client_context(tpp)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = version
    ctx.set_ciphers((ciphers or "DEFAULT") + ":@SECLEVEL=0")
    return ctx


async def handshake(port: int, ctx: ssl.SSLContext) -> ssl.SSLObject:
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 5
    )
    tls: ssl.SSLObject = writer.get_extra_info("ssl_object")
    writer.close()
    return tls


REFUSED = [
    ("TLS 1.0", ssl.TLSVersion.TLSv1, None),
    ("TLS 1.1", ssl.TLSVersion.TLSv1_1, None),
    ("TLS 1.2 ECDHE CBC", ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"),
    ("TLS 1.2 RSA key exchange", ssl.TLSVersion.TLSv1_2, "AES128-GCM-SHA256:AES256-SHA256:AES128-SHA"),
    ("TLS 1.2 static DH / no FS", ssl.TLSVersion.TLSv1_2, "kRSA:kECDH:kDH:aNULL:eNULL"),
]


@pytest.mark.parametrize(("name", "version", "ciphers"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_old_protocols_and_weak_suites_are_refused(
    gateway_process: GatewayProcess,
    control_port: int,
    pki: TestPki,
    tpp: Pem,
    name: str,
    version: ssl.TLSVersion,
    ciphers: str | None,
) -> None:
    """A client offering only an old protocol or a non-AEAD / non-forward-secret suite cannot connect."""
    ctx = legacy_client(pki, tpp, version, ciphers)
    try:
        await handshake(control_port, ctx)
        offered = True
    except (ssl.SSLError, OSError):
        offered = False  # this OpenSSL cannot even offer it (or the certificate type excludes it)
    with pytest.raises((ssl.SSLError, OSError)):
        await handshake(gateway_process.port, ctx)
    print(
        f"{name}: refused by the gateway; the control server {'accepted' if offered else 'also refused'} it"
    )


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_modern_client_gets_a_forward_secret_aead_suite(
    gateway_process: GatewayProcess, pki: TestPki, tpp: Pem, version: ssl.TLSVersion
) -> None:
    """TLS 1.2 and 1.3 clients connect with ECDHE (or TLS 1.3) and GCM/ChaCha20-Poly1305."""
    ctx = pki.client_context(tpp)
    ctx.minimum_version = ctx.maximum_version = version
    tls = await handshake(gateway_process.port, ctx)
    cipher, protocol, _ = tls.cipher() or ("", "", 0)
    assert protocol == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert "GCM" in cipher or "CHACHA20" in cipher
    assert protocol == "TLSv1.3" or cipher.startswith("ECDHE-")


async def test_tls12_session_offers_no_ticket(
    gateway_process: GatewayProcess, pki: TestPki, tpp: Pem
) -> None:
    """No session ticket: resumption would skip the per-connection certificate checks."""
    ctx = pki.client_context(tpp)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", gateway_process.port, ssl=ctx, server_hostname="localhost"
    )
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    await reader.read()
    tls: ssl.SSLObject = writer.get_extra_info("ssl_object")
    writer.close()
    assert tls.session is not None
    assert not tls.session.has_ticket
    assert tls.session.ticket_lifetime_hint == 0
    assert not await asyncio.to_thread(resumed, gateway_process.port, ctx), "no session-ID resumption either"


def resumed(port: int, ctx: ssl.SSLContext) -> bool:
    """Whether a second TLS 1.2 connection offering the first one's session resumes it."""
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost") as first:
        session = first.session
    sock = socket.create_connection(("127.0.0.1", port))
    with ctx.wrap_socket(sock, server_hostname="localhost", session=session) as second:
        return second.session_reused


def ensure_testssl() -> str:
    """testssl.sh on PATH, installed from the Debian package when missing (root and apt only)."""
    for name in ("testssl", "testssl.sh"):
        if found := shutil.which(name):
            return found
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "testssl.sh"]
        result = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False, env=env)
        if result.returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, timeout=300, check=False, env=env)
            result = subprocess.run(
                install, capture_output=True, text=True, timeout=300, check=False, env=env
            )
        for name in ("testssl", "testssl.sh"):
            if found := shutil.which(name):
                return found
        reason = f"apt-get install testssl.sh failed: {result.stderr.strip()[-300:]}"
    else:
        reason = "testssl.sh is not installed and cannot be (needs root and apt-get)"
    print(f"SKIPPED testssl.sh scan: {reason}")
    pytest.skip(reason)


def scan_command(binary: str, report: Path, pki: TestPki, mtls: Path | None, port: int) -> list[str]:
    # --fast and a chosen set of checks keep the scan near a minute: protocols, standard cipher
    # categories, forward secrecy, renegotiation, server defaults (tickets), vulnerabilities.
    command = [binary, "--quiet", "--color", "0", "--warnings", "off", "--fast", "--openssl-timeout", "5"]
    command += [
        "--add-ca",
        str(pki.trust_bundle),
        "--jsonfile",
        str(report),
        "-p",
        "-s",
        "-f",
        "-R",
        "-S",
        "-U",
    ]
    if mtls is not None:
        command += ["--mtls", str(mtls)]
    return [*command, f"127.0.0.1:{port}"]


def serious(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """MEDIUM or worse (and scan failures), except findings about the test certificate itself."""
    bad = {"MEDIUM", "HIGH", "CRITICAL", "FATAL"}
    return [
        f
        for f in findings
        if f.get("severity") in bad and not str(f.get("id")).startswith(CERTIFICATE_FINDINGS)
    ]


def test_testssl_finds_nothing_medium_or_higher(pki: TestPki, tpp: Pem, tmp_path: Path) -> None:
    """testssl.sh against a real gateway process: no finding of severity MEDIUM or higher."""
    binary = ensure_testssl()
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=False).stdout
    mtls = None
    settings: dict[str, Any] = {}
    if "--mtls" in help_text:
        mtls = tmp_path / "tpp-cert-and-key.pem"
        mtls.write_text(tpp.cert.read_text() + tpp.key.read_text())
    else:
        # This testssl.sh cannot present a client certificate: scan the same TLS configuration with
        # client certificates optional instead of required (protocols and suites do not change).
        print("testssl.sh has no --mtls: scanning with tls.require-client-cert false")
        settings["tls"] = {
            "cert": str(pki.server.cert),
            "key": str(pki.server.key),
            "client-ca": str(pki.trust_bundle),
            "require-client-cert": False,
        }
    gateway = GatewayProcess(tmp_path, pki, "http://127.0.0.1:9", **settings).start()
    report = tmp_path / "testssl.json"
    try:
        run = subprocess.run(
            scan_command(binary, report, pki, mtls, gateway.port),
            capture_output=True,
            text=True,
            timeout=TESTSSL_BUDGET_S,
            check=False,
        )
    finally:
        gateway.stop()
    assert report.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    findings = json.loads(report.read_text())
    for finding in findings:
        if finding.get("severity") not in ("OK", "INFO", "DEBUG"):
            print(f"testssl {finding['severity']:8} {finding['id']}: {finding['finding']}")
    assert serious(findings) == []
    by_id = {f["id"]: f for f in findings}
    for protocol in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[protocol]["finding"].startswith("not offered"), by_id[protocol]
    assert "not offered" not in by_id["TLS1_2"]["finding"] and "not offered" not in by_id["TLS1_3"]["finding"]
    assert by_id["secure_client_renego"]["severity"] == "OK", by_id["secure_client_renego"]
