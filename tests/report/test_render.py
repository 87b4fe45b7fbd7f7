"""Rendering: CSV with the EBA header row, and an aligned terminal table."""

from __future__ import annotations

import csv
import io

from gateway.report.render import COLUMNS, to_csv, to_table
from gateway.report.stats import Row

ROW = Row(
    "2025-04-01", "AIS", 1440, 99.99306, 1, 61.0, 60.5, 114.5, 119.5, 5.0, 0.0069, {"ACCESS_EXCEEDED": 72}
)
SCRAPED = Row("2025-04-01..2025-06-30", "ALL", 10, 100.0, None, None, None, None, None, 0.0, 0.0)


def test_csv_has_the_eba_header_and_one_line_per_row() -> None:
    table = list(csv.reader(io.StringIO(to_csv([ROW, SCRAPED]))))
    assert table[0] == [
        "period",
        "service",
        "requests",
        "availability_pct",
        "downtime_min",
        "mean_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "rejected_pct",
        "server_error_pct",
    ]
    assert table[1] == [
        "2025-04-01",
        "AIS",
        "1440",
        "99.993",
        "1",
        "61.00",
        "60.50",
        "114.50",
        "119.50",
        "5.000",
        "0.007",
    ]
    assert table[2][4:9] == ["", "", "", "", ""]  # not measured is empty, not zero
    assert {len(line) for line in table} == {len(COLUMNS)}


def test_the_table_aligns_columns_and_lists_rejections_by_code() -> None:
    lines = to_table([ROW, SCRAPED]).splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert len({len(line) for line in lines[:4]}) == 1  # header, rule and rows line up
    assert lines[3].split()[4:6] == ["-", "-"]
    assert lines[-1] == "  2025-04-01 AIS ACCESS_EXCEEDED: 72"


def test_an_empty_report_is_just_the_header() -> None:
    assert to_csv([]) == ",".join(COLUMNS) + "\n"
