"""``psd2-gateway report``: the dedicated interface's availability and performance statistics.

    report --from 2025-04-01 --to 2025-06-30 [--by day|week|month|quarter] [--format table|csv]
           [--out FILE] [--down-threshold 1.0] LOGFILE...          (``-`` is stdin, ``.gz`` is read)
    report --from 2025-04-01 --to 2025-06-30 --metrics-start F|URL --metrics-end F|URL

Dates are inclusive UTC days. What was read and skipped goes to stderr; the exit status is 1
when no request fell in the range (most likely a wrong file or date), 2 on unusable input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from gateway.report import ReportError
from gateway.report.logs import ReadCounts, read_events
from gateway.report.prometheus import load_scrape, rows_from_scrapes
from gateway.report.render import to_csv, to_table
from gateway.report.stats import PERIODS, Aggregator, Row


def add_report_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``report`` (with ``run_report`` as its handler) on the main CLI's sub-parsers."""
    report = subparsers.add_parser(
        "report",
        help="EBA availability and performance statistics (RTS Art. 32(4)) from logs or metrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--from", dest="start", type=_day, required=True, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_day, required=True, help="last day (inclusive)")
    report.add_argument("--by", choices=PERIODS, default="day", help="period of each row (default: day)")
    report.add_argument("--format", choices=("table", "csv"), default="table")
    report.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    report.add_argument(
        "--down-threshold",
        type=float,
        default=1.0,
        metavar="SHARE",
        help="a minute is down when at least this share of its requests failed (default 1.0: all)",
    )
    report.add_argument("--metrics-start", metavar="F|URL", help="scrape of /metrics at the start")
    report.add_argument("--metrics-end", metavar="F|URL", help="scrape of /metrics at the end")
    report.add_argument("logs", nargs="*", metavar="LOGFILE", help="JSON-lines gateway logs")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise ReportError(f"--to {args.end} is before --from {args.start}")
    scrapes = args.metrics_start is not None or args.metrics_end is not None
    rows = _from_scrapes(args) if scrapes else _from_logs(args)
    text = to_csv(rows) if args.format == "csv" else to_table(rows)
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as e:
            raise ReportError(f"{args.out}: cannot write: {e.strerror or e}") from e
    if not rows:
        print(f"report: no requests between {args.start} and {args.end}", file=sys.stderr)
    return 0 if rows else 1


def _from_logs(args: argparse.Namespace) -> list[Row]:
    if not args.logs:
        raise ReportError("give LOGFILE... (or - for stdin), or --metrics-start and --metrics-end")
    try:
        aggregator = Aggregator(args.start, args.end, by=args.by, down_threshold=args.down_threshold)
    except ValueError as e:
        raise ReportError(str(e)) from e
    counts = ReadCounts()
    aggregator.add_all(read_events(args.logs, counts))
    print(f"report: {counts.summary()}; {aggregator.out_of_range} outside the range", file=sys.stderr)
    return aggregator.rows()


def _from_scrapes(args: argparse.Namespace) -> list[Row]:
    if args.metrics_start is None or args.metrics_end is None or args.logs:
        raise ReportError("--metrics-start and --metrics-end go together, and without LOGFILE")
    period = f"{args.start.isoformat()}..{args.end.isoformat()}"
    return rows_from_scrapes(load_scrape(args.metrics_start), load_scrape(args.metrics_end), period)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from e
