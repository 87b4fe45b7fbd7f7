"""The report as a fixed-width table for the terminal, or CSV with a header row.

Column names follow the EBA statistics (GL 2.2-2.3, Guideline 3) so the CSV can be published
or pasted into the national competent authority's template as it is. An unmeasured figure
(downtime from Prometheus scrapes) is empty in CSV and ``-`` in the table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from gateway.report.stats import Row

COLUMNS = (
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
)
# Percentages to 3 decimals: 99.995% and 99.95% are different promises.
_DECIMALS = {"availability_pct": 3, "rejected_pct": 3, "server_error_pct": 3}
_MS_DECIMALS = 2


def cells(row: Row) -> list[str]:
    """The row's figures as strings, in ``COLUMNS`` order; ``None`` is the empty string."""
    return [_format(column, getattr(row, column)) for column in COLUMNS]


def to_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(cells(row) for row in rows)
    return out.getvalue()


def to_table(rows: Sequence[Row]) -> str:
    """Right-aligned figures under their column names, then rejections per Berlin Group code."""
    body = [[value or "-" for value in cells(row)] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in body)]) for i, c in enumerate(COLUMNS)]
    lines = [_line(COLUMNS, widths), _line(["-" * w for w in widths], widths)]
    lines += [_line(line, widths) for line in body]
    codes = [
        f"  {row.period} {row.service} {code}: {count}"
        for row in rows
        for code, count in row.rejections.items()
    ]
    if codes:
        lines += ["", "rejections by Berlin Group code:", *codes]
    return "\n".join(lines) + "\n"


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    # period and service read left to right; figures line up on their last digit.
    aligned = (
        v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
    )
    return "  ".join(aligned).rstrip()


def _format(column: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{_DECIMALS.get(column, _MS_DECIMALS)}f}"
    return str(value)
