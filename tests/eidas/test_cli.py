"""``psd2-gateway certs`` driven through add_certs_parser and run_certs, as the main CLI does."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from gateway.eidas.cli import add_certs_parser, run_certs


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="psd2-gateway")
    add_certs_parser(parser.add_subparsers(dest="command", required=True))
    return run_certs(parser.parse_args(["certs", *argv]))


@pytest.fixture(scope="module")
def dev_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dev")
    assert run("init-dev", "--dir", str(directory)) == 0
    return directory


@pytest.mark.parametrize(
    ("kind", "roles", "qc_type"),
    [("qwac", "PSP_AI,PSP_PI", "web"), ("qseal", "psp_ic", "eseal")],
)
def test_issue_then_show(
    dev_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, roles: str, qc_type: str
) -> None:
    """`certs qwac|qseal` writes PREFIX.pem and a 0600 PREFIX.key.pem; `certs show` prints the identity."""
    out = tmp_path / "tpp"
    argv = ["--ca-dir", str(dev_dir / "ca"), "--org-name", "Acme Payments", "--org-id", "PSDDE-BAFIN-777"]
    assert run(kind, *argv, "--roles", roles, "--nca-name", "BaFin", "--days", "30", "--out", str(out)) == 0
    assert stat.S_IMODE(Path(f"{out}.key.pem").stat().st_mode) == 0o600
    capsys.readouterr()
    assert run("show", f"{out}.pem", "--strict") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["organization_id"] == "PSDDE-BAFIN-777" and shown["nca_id"] == "DE-BAFIN"
    assert shown["country"] == "DE" and shown["qc_types"] == [qc_type]
    assert shown["roles"] == sorted(r.strip().upper() for r in roles.split(","))


def test_explicit_dates(dev_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--not-before/--not-after take ISO dates; naive ones are UTC."""
    out = tmp_path / "old"
    dates = ["--not-before", "2020-01-01T00:00:00", "--not-after", "2021-01-01T00:00:00+00:00"]
    assert run("qwac", "--ca-dir", str(dev_dir / "ca"), *dates, "--out", str(out)) == 0
    capsys.readouterr()
    assert run("show", f"{out}.pem") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["not_before"], shown["not_after"]) == (
        "2020-01-01T00:00:00+00:00",
        "2021-01-01T00:00:00+00:00",
    )


def test_server(dev_dir: Path, tmp_path: Path) -> None:
    """`certs server` writes a certificate that `show` rightly refuses as a TPP certificate."""
    out = tmp_path / "gw"
    assert (
        run(
            "server",
            "--ca-dir",
            str(dev_dir / "ca"),
            "--hostname",
            "gw.local",
            "--ip",
            "10.0.0.1",
            "--out",
            str(out),
        )
        == 0
    )
    assert run("show", f"{out}.pem") == 1


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["qwac", "--roles", "PSP_XX"], "unknown PSD2 role"),
        (["qwac", "--org-id", "ACME-1"], "not of the form"),
        (["qwac", "--ca-dir", "/nonexistent/ca"], "No such file"),
        (["show", "/nonexistent.pem"], "No such file"),
    ],
)
def test_errors_exit_1_with_a_message(
    dev_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    """Bad input is one line on stderr and exit status 1, not a traceback."""
    if argv[0] == "qwac" and "--ca-dir" not in argv:
        argv = [*argv, "--ca-dir", str(dev_dir / "ca")]
    if argv[0] == "qwac":
        argv = [*argv, "--out", str(tmp_path / "x")]
    assert run(*argv) == 1
    assert complaint in capsys.readouterr().err
