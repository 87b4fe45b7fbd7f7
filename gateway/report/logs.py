"""Stream ``request`` events out of the gateway's JSON-lines logs.

A log holds more than request events (lifecycle events, other tools' output, a truncated last
line): anything that is not a well-formed ``request`` event is skipped and counted, never fatal.
Files ending in ``.gz`` (or starting with the gzip magic) are decompressed; ``-`` is stdin.
"""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeGuard

from gateway.report import ReportError

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """The fields of one ``request`` event the statistics need."""

    at: datetime  # aware, UTC
    service: str
    outcome: str  # forwarded, rejected, upstream_error
    status: int
    code: str | None  # Berlin Group code of a rejection
    response_ms: float  # gateway_ms + upstream_ms (0 when not forwarded)


@dataclass(slots=True)
class ReadCounts:
    """What the reader saw: every line lands in exactly one of the last four counters."""

    lines: int = 0
    events: int = 0
    not_json: int = 0  # not a JSON object
    other_events: int = 0  # JSON, but another event (gateway_stopping, ...)
    invalid: int = 0  # a ``request`` event with a missing or ill-typed field

    def summary(self) -> str:
        return (
            f"{self.lines} lines: {self.events} request events, {self.other_events} other events, "
            f"{self.not_json} not JSON, {self.invalid} invalid request events"
        )


def read_events(sources: Iterable[str], counts: ReadCounts) -> Iterator[RequestEvent]:
    """Every well-formed request event of ``sources`` in file order, counting what is skipped."""
    for source in sources:
        with _open(source) as stream:
            try:
                for raw in stream:
                    event = parse_line(raw, counts)
                    if event is not None:
                        yield event
            except (OSError, EOFError, zlib.error) as e:  # truncated or corrupt gzip, I/O error
                raise ReportError(f"{source}: cannot read: {e}") from e


def parse_line(raw: bytes, counts: ReadCounts) -> RequestEvent | None:
    """One log line as a request event, or ``None`` (and a count) when it is not one."""
    counts.lines += 1
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays
        counts.not_json += 1
        return None
    if not isinstance(record, dict):
        counts.not_json += 1
        return None
    if record.get("event") != "request":
        counts.other_events += 1
        return None
    event = _event(record)
    if event is None:
        counts.invalid += 1
    else:
        counts.events += 1
    return event


def _event(record: dict[str, Any]) -> RequestEvent | None:
    at = _timestamp(record.get("timestamp"))
    service, outcome, status = record.get("service"), record.get("outcome"), record.get("status")
    gateway_ms, upstream_ms, code = record.get("gateway_ms"), record.get("upstream_ms"), record.get("code")
    if at is None or not isinstance(service, str) or not isinstance(outcome, str):
        return None
    if not isinstance(status, int) or isinstance(status, bool) or not (code is None or isinstance(code, str)):
        return None
    if not _is_ms(gateway_ms) or not (upstream_ms is None or _is_ms(upstream_ms)):
        return None
    return RequestEvent(at, service, outcome, status, code, float(gateway_ms) + float(upstream_ms or 0.0))


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
        # structlog's TimeStamper(utc=True) writes an offset; a naive stamp is taken as UTC too.
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _is_ms(value: object) -> TypeGuard[float]:
    # Bounded, so that a huge JSON integer cannot overflow float(); 1e12 ms is 31 years.
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e12


@contextmanager
def _open(source: str) -> Iterator[Iterable[bytes]]:
    with ExitStack() as stack:
        if source == "-":
            stream: IO[bytes] = sys.stdin.buffer  # read, never closed
        else:
            try:
                stream = stack.enter_context(Path(source).open("rb"))
            except OSError as e:
                raise ReportError(f"{source}: cannot open: {e.strerror or e}") from e
        if _peek(stream, 2) == _GZIP_MAGIC:
            yield stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
        else:
            yield stream


def _peek(stream: IO[bytes], size: int) -> bytes:
    peek = getattr(stream, "peek", None)
    return bytes(peek(size)[:size]) if peek is not None else b""
