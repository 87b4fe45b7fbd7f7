"""``psd2-gateway certs``: make a dev PKI, issue test QWACs / QSealCs / server certs, show a certificate.

    certs init-dev [--dir certs/dev]
    certs qwac  --out PREFIX [--ca-dir D] [--org-name N] [--org-id PSDBE-NBB-1] [--roles PSP_AI,PSP_PI] ...
    certs qseal --out PREFIX (same options)
    certs server --out PREFIX [--hostname H]... [--ip IP]...
    certs show FILE [--strict]      the parsed TppIdentity as JSON

Each writes PREFIX.pem (the certificate then the issuing CA) and PREFIX.key.pem (0600).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from gateway.eidas.devpki import ensure_dev_pki
from gateway.eidas.identity import identity_from_certificate, nca_id_of
from gateway.eidas.issue import KEY_TYPES, DevCA, IssuedCertificate, TppProfile, write_pem
from gateway.eidas.oids import Role
from gateway.eidas.qcstatements import CertificateParseError

DEFAULT_DEV_DIR = Path("certs/dev")


def add_certs_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``certs`` and its sub-commands on the main CLI's sub-parsers."""
    certs = subparsers.add_parser("certs", help="dev PKI and eIDAS test certificates")
    commands = certs.add_subparsers(dest="certs_command", required=True)
    init = commands.add_parser("init-dev", help="create or refresh the dev PKI (idempotent)")
    init.add_argument("--dir", type=Path, default=DEFAULT_DEV_DIR)
    for kind in ("qwac", "qseal"):
        _add_tpp_options(commands.add_parser(kind, help=f"issue a test {kind.upper()} from the dev CA"))
    server = commands.add_parser("server", help="issue a TLS server certificate for the gateway")
    _add_common_options(server)
    server.add_argument("--hostname", action="append", default=[], help="DNS SAN (repeatable)")
    server.add_argument("--ip", action="append", default=[], help="IP SAN (repeatable)")
    show = commands.add_parser("show", help="print the TPP identity a certificate asserts, as JSON")
    show.add_argument("file", type=Path, help="PEM or DER certificate (the first one of a PEM chain)")
    show.add_argument("--strict", action="store_true", help="reject the known malformations too")


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca-dir", type=Path, default=DEFAULT_DEV_DIR / "ca", help="from `certs init-dev`")
    parser.add_argument("--out", required=True, help="writes OUT.pem and OUT.key.pem")
    parser.add_argument("--key-type", choices=KEY_TYPES, default="ec-p256")
    parser.add_argument("--days", type=int, default=365, help="validity from now (or from --not-before)")


def _add_tpp_options(parser: argparse.ArgumentParser) -> None:
    _add_common_options(parser)
    parser.add_argument("--org-name", default="Dev TPP Ltd")
    parser.add_argument("--org-id", default="PSDBE-NBB-0123456789", help="PSD<CC>-<NCA>-<authorisation>")
    parser.add_argument("--country", help="subject C (default: from --org-id)")
    parser.add_argument("--roles", default="PSP_AS,PSP_PI,PSP_AI,PSP_IC", help="comma separated")
    parser.add_argument("--nca-name", default="National Bank of Belgium")
    parser.add_argument("--nca-id", help="default: from --org-id (PSDBE-NBB-... gives BE-NBB)")
    parser.add_argument("--not-before", type=_aware_datetime, help="ISO 8601; naive means UTC")
    parser.add_argument("--not-after", type=_aware_datetime, help="ISO 8601; naive means UTC")


def run_certs(args: argparse.Namespace) -> int:
    """Run the ``certs`` sub-command in ``args``; returns the process exit status."""
    try:
        return _COMMANDS[args.certs_command](args)
    except (CertificateParseError, ValueError, OSError) as e:
        print(f"psd2-gateway certs {args.certs_command}: {e}", file=sys.stderr)
        return 1


def _init_dev(args: argparse.Namespace) -> int:
    pki = ensure_dev_pki(args.dir)
    print(f"dev PKI ready in {pki.directory}")
    for label, path in (
        ("trust bundle", pki.trust_bundle),
        ("server", pki.server_cert),
        ("QWAC", pki.qwac_cert),
    ):
        print(f"  {label}: {path}")
    return 0


def _issue_tpp(args: argparse.Namespace) -> int:
    ca = DevCA.load(args.ca_dir)
    profile = TppProfile(
        organization_name=args.org_name,
        organization_id=args.org_id,
        country=args.country or args.org_id[3:5],
        roles=frozenset(Role.parse(name) for name in args.roles.split(",") if name.strip()),
        nca_name=args.nca_name,
        nca_id=args.nca_id or nca_id_of(args.org_id),
        not_before=args.not_before,
        not_after=args.not_after,
        valid_days=args.days,
        key_type=args.key_type,
    )
    issued = ca.issue_qwac(profile) if args.certs_command == "qwac" else ca.issue_qseal(profile)
    return _write(issued, args.out)


def _issue_server(args: argparse.Namespace) -> int:
    ca = DevCA.load(args.ca_dir)
    hostnames = args.hostname or ([] if args.ip else ["localhost"])
    issued = ca.issue_server(hostnames, args.ip, key_type=args.key_type, valid_days=args.days)
    return _write(issued, args.out)


def _write(issued: IssuedCertificate, prefix: str) -> int:
    write_pem(Path(f"{prefix}.pem"), issued.chain_pem())
    write_pem(Path(f"{prefix}.key.pem"), issued.key_pem(), private=True)
    print(f"wrote {prefix}.pem and {prefix}.key.pem (serial {issued.cert.serial_number:x})")
    return 0


def _show(args: argparse.Namespace) -> int:
    identity = identity_from_certificate(_load_certificate(args.file), strict=args.strict)
    print(json.dumps(identity.as_dict(), indent=2))
    return 0


def _load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)[0]
    return x509.load_der_x509_certificate(data)


def _aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_COMMANDS = {
    "init-dev": _init_dev,
    "qwac": _issue_tpp,
    "qseal": _issue_tpp,
    "server": _issue_server,
    "show": _show,
}
