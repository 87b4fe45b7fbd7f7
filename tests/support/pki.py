"""Certificates for tests, issued at test time with the product's own dev CA code."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from gateway.eidas.issue import DevCA, IssuedCertificate, TppFields, write_pem


@dataclass(frozen=True)
class Pem:
    """An issued certificate written to disk: ``cert`` (with chain) and ``key``."""

    cert: Path
    key: Path


@dataclass
class TestPki:
    """A trusted QTSP (trusted by the gateway), an untrusted one, and the gateway's server certificate."""

    __test__ = False

    directory: Path
    qtsp: DevCA
    rogue: DevCA
    trust_bundle: Path
    server: Pem
    _count: int = 0

    @classmethod
    def create(cls, directory: Path) -> TestPki:
        directory.mkdir(parents=True, exist_ok=True)
        qtsp = DevCA.create("Test QTSP")
        rogue = DevCA.create("Rogue QTSP")
        bundle = directory / "trust.pem"
        write_pem(bundle, qtsp.bundle_pem())
        pki = cls(directory, qtsp, rogue, bundle, Pem(directory / "x", directory / "x"))
        pki.server = pki.write(qtsp.issue_server(["localhost"], ["127.0.0.1"]), "server")
        return pki

    def write(self, issued: IssuedCertificate, name: str) -> Pem:
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.test-key.pem"
        write_pem(cert, issued.chain_pem())
        write_pem(key, issued.key_pem(), private=True)
        return Pem(cert, key)

    def qwac(self, *, ca: DevCA | None = None, **fields: Unpack[TppFields]) -> Pem:
        """A QWAC (all roles by default) issued by ``ca`` (the trusted QTSP by default), on disk."""
        self._count += 1
        issued = (ca or self.qtsp).issue_qwac(**fields)
        return self.write(issued, f"qwac-{self._count}")

    def client_context(self, client: Pem | None) -> ssl.SSLContext:
        """What a TPP uses to call the gateway: trusts the gateway's CA, presents ``client``."""
        ctx = ssl.create_default_context(cafile=str(self.trust_bundle))
        if client is not None:
            ctx.load_cert_chain(client.cert, client.key)
        return ctx
