"""``psd2-gateway report`` end to end: arguments in, a CSV or table out, errors as ReportError."""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path

import pytest
from reportkit import SCRAPE_END, SCRAPE_START, lines, synthetic_events

from gateway.report import ReportError
from gateway.report.cli import add_report_parser


def _report(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="psd2-gateway")
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", *argv])
    return int(args.handler(args))


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The synthetic log split over a plain and a rotated, gzipped file, with noise in between."""
    directory = tmp_path_factory.mktemp("logs")
    text = lines(synthetic_events())
    half = len(text) // 2
    plain, rotated = directory / "gateway.log", directory / "gateway.log.1.gz"
    rotated.write_bytes(gzip.compress(("\n".join(text[:half]) + "\nnot json\n").encode()))
    plain.write_text("\n".join(text[half:]) + "\n")
    return [str(rotated), str(plain)]


def test_a_quarter_of_logs_becomes_a_csv_file(
    logs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "q2.csv"
    assert (
        _report(
            "--from",
            "2025-04-01",
            "--to",
            "2025-06-30",
            "--by",
            "quarter",
            "--format",
            "csv",
            "--out",
            str(out),
            *logs,
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [(r["period"], r["service"], r["requests"], r["downtime_min"]) for r in rows] == [
        ("2025-Q2", "AIS", "4320", "30"),
        ("2025-Q2", "PIS", "4320", "66"),
        ("2025-Q2", "PIIS", "4320", "30"),
        ("2025-Q2", "ALL", "12960", "30"),
    ]
    err = capsys.readouterr().err
    assert "12961 lines: 12960 request events" in err and "1 not JSON" in err


def test_the_default_is_a_daily_table_on_stdout(logs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _report("--from", "2025-04-02", "--to", "2025-04-02", *logs) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split()[:3] == ["period", "service", "requests"]
    assert sum(line.startswith("2025-04-02") for line in captured.out.splitlines()) == 4
    assert "8640 outside the range" in captured.err and "1 not JSON" in captured.err


def test_prometheus_scrapes_give_one_row_per_service_for_the_whole_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "start.prom").write_text(SCRAPE_START)
    (tmp_path / "end.prom").write_text(SCRAPE_END)
    assert (
        _report(
            "--from",
            "2025-04-01",
            "--to",
            "2025-06-30",
            "--format",
            "csv",
            "--metrics-start",
            str(tmp_path / "start.prom"),
            "--metrics-end",
            str(tmp_path / "end.prom"),
        )
        == 0
    )
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["period"], r["service"], r["availability_pct"], r["downtime_min"]) for r in rows] == [
        ("2025-04-01..2025-06-30", "AIS", "95.000", ""),
        ("2025-04-01..2025-06-30", "PIS", "100.000", ""),
        ("2025-04-01..2025-06-30", "ALL", "95.455", ""),
    ]


def test_no_request_in_the_range_exits_1(logs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _report("--from", "2024-01-01", "--to", "2024-01-31", *logs) == 1
    assert "no requests" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--from", "2025-04-02", "--to", "2025-04-01", "x.log"],
        ["--from", "2025-04-01", "--to", "2025-04-02"],
        ["--from", "2025-04-01", "--to", "2025-04-02", "--metrics-start", "a.prom"],
        ["--from", "2025-04-01", "--to", "2025-04-02", "--metrics-start", "a", "--metrics-end", "b", "x.log"],
        ["--from", "2025-04-01", "--to", "2025-04-02", "--down-threshold", "0", "x.log"],
    ],
)
def test_inconsistent_arguments_are_report_errors(argv: list[str]) -> None:
    with pytest.raises(ReportError):
        _report(*argv)


def test_a_bad_date_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _report("--from", "April", "--to", "2025-04-02", "x.log")
    assert "not a date" in capsys.readouterr().err
