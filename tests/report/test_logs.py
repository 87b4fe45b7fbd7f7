"""The log reader: request events out, everything else skipped and counted, never a crash."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reportkit import T0, request

from gateway.report import ReportError
from gateway.report.logs import ReadCounts, RequestEvent, parse_line, read_events

GOOD = json.dumps(request(T0, "PIS", upstream_ms=12.25, gateway_ms=0.75))
NOISE = [
    "psd2-gateway listening on https://0.0.0.0:8443 (metrics on port 9090)",  # not JSON
    "",  # blank
    "[1, 2, 3]",  # JSON, not an object
    json.dumps({"event": "gateway_stopping", "level": "info"}),  # another event
    json.dumps({**request(T0), "status": "200"}),  # request event, ill-typed status
    json.dumps({**request(T0), "status": True}),  # bool is not a status
    json.dumps({**request(T0), "gateway_ms": -1}),  # negative time
    json.dumps({**request(T0), "timestamp": "yesterday"}),  # not a timestamp
    GOOD[: len(GOOD) // 2],  # truncated last line of a rotated file
]


def _read(path: Path | str) -> tuple[list[RequestEvent], ReadCounts]:
    counts = ReadCounts()
    return list(read_events([str(path)], counts)), counts


def test_a_request_event_keeps_time_service_outcome_and_response_time() -> None:
    event = parse_line(GOOD.encode(), ReadCounts())
    assert event == RequestEvent(datetime(2025, 4, 1, tzinfo=UTC), "PIS", "forwarded", 200, None, 13.0)


def test_a_rejection_has_no_upstream_time_and_keeps_its_code() -> None:
    line = json.dumps(request(T0, outcome="rejected", status=429, code="ACCESS_EXCEEDED", gateway_ms=0.25))
    event = parse_line(line.encode(), ReadCounts())
    assert event is not None and (event.code, event.response_ms) == ("ACCESS_EXCEEDED", 0.25)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2025-04-01T23:59:59.5Z", datetime(2025, 4, 1, 23, 59, 59, 500000, tzinfo=UTC)),
        ("2025-04-02T01:59:59+02:00", datetime(2025, 4, 1, 23, 59, 59, tzinfo=UTC)),
        ("2025-04-01T23:59:59", datetime(2025, 4, 1, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_timestamps_are_read_as_utc(stamp: str, expected: datetime) -> None:
    event = parse_line(json.dumps({**request(T0), "timestamp": stamp}).encode(), ReadCounts())
    assert event is not None and event.at == expected


def test_noise_is_skipped_and_counted_by_kind(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log"
    path.write_text("\n".join([GOOD, *NOISE, GOOD]) + "\n")
    events, counts = _read(path)
    assert len(events) == 2
    assert counts == ReadCounts(lines=11, events=2, not_json=4, other_events=1, invalid=4)


def test_gzip_files_are_read_by_content_not_by_name(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log.1"  # logrotate's compressed file without the .gz suffix
    path.write_bytes(gzip.compress(f"{GOOD}\nnoise\n{GOOD}\n".encode()))
    events, counts = _read(path)
    assert (len(events), counts.not_json) == (2, 1)


def test_a_corrupt_gzip_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.log.gz"
    path.write_bytes(gzip.compress((GOOD + "\n").encode() * 1000)[:200])
    with pytest.raises(ReportError, match=r"gateway\.log\.gz"):
        _read(path)


def test_a_missing_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"missing\.log: cannot open"):
        _read(tmp_path / "missing.log")


@pytest.mark.parametrize("compress", [False, True])
def test_dash_reads_stdin_plain_or_gzipped(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    data = f"{GOOD}\n{GOOD}\n".encode()
    raw = io.BufferedReader(io.BytesIO(gzip.compress(data) if compress else data))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(raw))
    events, _ = _read("-")
    assert len(events) == 2


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_line_parser(raw: bytes) -> None:
    counts = ReadCounts()
    parse_line(raw, counts)
    assert counts.lines == 1 == counts.events + counts.not_json + counts.other_events + counts.invalid


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(sorted(request(T0))), _json))
def test_request_events_with_arbitrary_field_values_never_crash(fields: dict[str, object]) -> None:
    line = json.dumps({**request(T0), **fields, "event": "request"})
    counts = ReadCounts()
    event = parse_line(line.encode(), counts)
    assert (event is not None) == (counts.events == 1)


@given(st.lists(st.binary(max_size=80).filter(lambda b: b"\n" not in b), max_size=20))
def test_arbitrary_files_never_crash_the_reader(
    tmp_path_factory: pytest.TempPathFactory, rows: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("logs") / "any.log"
    path.write_bytes(b"".join(row + b"\n" for row in [GOOD.encode(), *rows]))
    events, counts = _read(path)
    assert counts.lines == len(rows) + 1 and len(events) >= 1
