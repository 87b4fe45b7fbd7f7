"""maintenance-window: 503 with an exact Retry-After inside planned windows, right across DST days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factories import ORG_ID, config, exchange

from gateway.config import ConfigError
from gateway.errors import Reject
from gateway.policies.maintenance_window import (
    MaintenanceWindowConfig,
    MaintenanceWindowPolicy,
    announced_windows,
)
from gateway.policyset import load_policy_set

BRUSSELS = ZoneInfo("Europe/Brussels")
# Seed 000: "on 21/06/2025 from 10:00 pm until 8:00 am next day".
SEED_000 = {"start": "2025-06-21T22:00", "end": "2025-06-22T08:00", "reason": "Technical update."}
# Seed 003: "On 17-18 June between 11pm - 6am" (17 June 2025 is a Tuesday).
SEED_003 = {"days": ["tue"], "from": "23:00", "to": "06:00"}
NIGHTLY = {"from": "23:00", "to": "06:00"}


def at(local: str) -> int:
    """Epoch ms of a Brussels wall-clock time (or of a time with an explicit offset)."""
    moment = dt.datetime.fromisoformat(local)
    return round((moment if moment.tzinfo else moment.replace(tzinfo=BRUSSELS)).timestamp() * 1000)


def policy(*windows: dict[str, Any], **settings: Any) -> MaintenanceWindowPolicy:
    return MaintenanceWindowPolicy(config(MaintenanceWindowConfig, windows=list(windows), **settings))


async def retry_after(p: MaintenanceWindowPolicy, now: str, org: str = ORG_ID) -> int | None:
    """Retry-After in seconds when the policy answers 503, None when the request passes."""
    try:
        await p.enforce(exchange(now_ms=at(now), organization_id=org))
    except Reject as reject:
        assert (reject.status, reject.code.value) == (503, "SERVICE_UNAVAILABLE")
        return int(reject.headers["Retry-After"])
    return None


WINDOW_CASES: list[tuple[str, list[dict[str, Any]], str, int | None]] = [
    ("absolute: inside", [SEED_000], "2025-06-21T23:00", 9 * 3600),
    ("absolute: at the start", [SEED_000], "2025-06-21T22:00", 10 * 3600),
    ("absolute: a second before", [SEED_000], "2025-06-21T21:59:59", None),
    ("absolute: half a second left rounds up", [SEED_000], "2025-06-22T07:59:59.500", 1),
    ("absolute: at the end", [SEED_000], "2025-06-22T08:00", None),
    (
        "absolute with an explicit offset",
        [{"start": "2025-06-21T20:00+00:00", "end": "2025-06-21T23:00"}],
        "2025-06-21T22:30",
        1800,
    ),
    ("recurring: evening part", [SEED_003], "2025-06-17T23:30", 6 * 3600 + 1800),
    ("recurring: after midnight belongs to Tuesday", [SEED_003], "2025-06-18T05:00", 3600),
    ("recurring: Wednesday night not listed", [SEED_003], "2025-06-18T23:30", None),
    ("recurring: Tuesday morning is Monday's window", [SEED_003], "2025-06-17T05:00", None),
    ("recurring: every day", [NIGHTLY], "2025-06-18T23:30", 6 * 3600 + 1800),
    ("recurring: outside", [NIGHTLY], "2025-06-18T06:00", None),
    (
        "weekday filter: Saturday",
        [{"days": ["sat", "sun"], "from": "10:00", "to": "14:00"}],
        "2025-06-21T12:00",
        7200,
    ),
    (
        "weekday filter: Monday",
        [{"days": ["sat", "sun"], "from": "10:00", "to": "14:00"}],
        "2025-06-23T12:00",
        None,
    ),
    ("spring forward: night is 6 h, not 7", [NIGHTLY], "2025-03-29T23:00", 6 * 3600),
    ("spring forward: across the gap", [{"from": "01:00", "to": "04:00"}], "2025-03-30T01:30", 5400),
    (
        "spring forward: skipped hour is empty",
        [{"days": ["sun"], "from": "02:00", "to": "03:00"}],
        "2025-03-30T03:00",
        None,
    ),
    (
        "spring forward: absolute",
        [{"start": "2025-03-29T22:00", "end": "2025-03-30T08:00"}],
        "2025-03-29T22:00",
        9 * 3600,
    ),
    ("fall back: night is 8 h, not 7", [NIGHTLY], "2025-10-25T23:00", 8 * 3600),
    (
        "fall back: repeated hour, first pass",
        [{"from": "02:00", "to": "03:00"}],
        "2025-10-26T02:30+02:00",
        5400,
    ),
    (
        "fall back: repeated hour, second pass",
        [{"from": "02:00", "to": "03:00"}],
        "2025-10-26T02:30+01:00",
        1800,
    ),
    (
        "abutting windows chain",
        [SEED_000, {"days": ["sun"], "from": "08:00", "to": "10:00"}],
        "2025-06-21T23:00",
        11 * 3600,
    ),
]


@pytest.mark.parametrize(
    ("windows", "now", "expected"), [c[1:] for c in WINDOW_CASES], ids=[c[0] for c in WINDOW_CASES]
)
async def test_window_table(windows: list[dict[str, Any]], now: str, expected: int | None) -> None:
    """Each moment gets exactly its Retry-After (seconds to the window's end), or passes."""
    assert await retry_after(policy(*windows), now) == expected


async def test_answer_names_the_end_with_its_offset_and_the_reason() -> None:
    """The Berlin Group text says until when, in the bank's zone, and why."""
    with pytest.raises(Reject) as caught:
        await policy(SEED_000).enforce(exchange(now_ms=at("2025-06-21T23:00")))
    assert caught.value.text == "Planned maintenance until 2025-06-22T08:00:00+02:00. Technical update."
    assert caught.value.headers == {"Retry-After": "32400"}


async def test_tpp_filter() -> None:
    """With tpps set, only those TPPs are turned away."""
    p = policy(SEED_000, tpps=["PSDBE-NBB-9999999999"])
    assert await retry_after(p, "2025-06-21T23:00") is None
    assert await retry_after(p, "2025-06-21T23:00", org="PSDBE-NBB-9999999999") == 9 * 3600


async def test_other_timezone() -> None:
    """Times are read in the configured zone: 22:00 in London is 23:00 in Brussels."""
    p = policy(SEED_000, timezone="Europe/London")
    assert await retry_after(p, "2025-06-21T22:30") is None
    assert await retry_after(p, "2025-06-21T23:30") == 9 * 3600 + 1800


def test_announced_windows_lists_current_and_coming_ones() -> None:
    """Windows overlapping the next days, in order, with offsets; empty DST windows are left out."""
    cfg = config(MaintenanceWindowConfig, windows=[SEED_000, SEED_003])
    now = dt.datetime(2025, 6, 17, 23, 30, tzinfo=BRUSSELS)
    assert announced_windows(cfg, now, days=7) == [
        {"start": "2025-06-17T23:00:00+02:00", "end": "2025-06-18T06:00:00+02:00", "reason": "", "tpps": []},
        {
            "start": "2025-06-21T22:00:00+02:00",
            "end": "2025-06-22T08:00:00+02:00",
            "reason": "Technical update.",
            "tpps": [],
        },
        {"start": "2025-06-24T23:00:00+02:00", "end": "2025-06-25T06:00:00+02:00", "reason": "", "tpps": []},
    ]
    skipped = config(MaintenanceWindowConfig, windows=[{"days": ["sun"], "from": "02:00", "to": "03:00"}])
    spring = announced_windows(skipped, dt.datetime(2025, 3, 28, tzinfo=dt.UTC), days=10)
    assert [w["start"] for w in spring] == ["2025-04-06T02:00:00+02:00"]


def test_announced_windows_needs_an_aware_time() -> None:
    """A naive 'now' is ambiguous: refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        announced_windows(config(MaintenanceWindowConfig, windows=[SEED_000]), dt.datetime(2025, 6, 21))


def routes_dir(tmp_path: Path, settings: str) -> Path:
    (tmp_path / "routes.yaml").write_text(
        "routes:\n"
        "  - name: ais\n"
        "    path: /v1/accounts/**\n"
        "    policies:\n"
        "      - maintenance-window:\n"
        f"{settings}"
    )
    return tmp_path


def test_loads_from_yaml_with_unquoted_timestamps(tmp_path: Path) -> None:
    """YAML timestamps (with seconds) are accepted as they are parsed."""
    settings = (
        "          timezone: Europe/Brussels\n"
        "          windows:\n"
        "            - {start: 2025-06-21 22:00:00, end: 2025-06-22T08:00, reason: Technical update}\n"
        "            - {days: [tue], from: '23:00', to: '06:00'}\n"
    )
    route = load_policy_set(routes_dir(tmp_path, settings), max_body_bytes=1024).router.routes[0]
    assert route.policies[0].name == "maintenance-window"


CONFIG_ERRORS: list[tuple[str, str, str]] = [
    (
        "end before start",
        "{start: '2025-06-22T08:00', end: '2025-06-21T22:00'}",
        "windows[0] (line 8): end must be after",
    ),
    (
        "unquoted time",
        "{from: 23:00, to: '06:00'}",
        'windows[0] (line 8).from: write times in quotes, like "23:00"',
    ),
    ("bad time", "{from: '24:00', to: '06:00'}", "windows[0] (line 8).from: expected a time like"),
    ("same from and to", "{from: '06:00', to: '06:00'}", "from and to must differ"),
    (
        "unknown day",
        "{days: [sam], from: '23:00', to: '06:00'}",
        "windows[0] (line 8).days: unknown day 'sam'",
    ),
    ("mixed kinds", "{start: '2025-06-21T22:00', to: '06:00'}", "either start and end, or from and to"),
    (
        "bad date",
        "{start: '21/06/2025 22:00', end: '2025-06-22T08:00'}",
        "windows[0] (line 8).start: expected a date",
    ),
]


@pytest.mark.parametrize(
    ("window", "message"), [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS]
)
def test_config_errors_name_file_line_and_path(tmp_path: Path, window: str, message: str) -> None:
    """A wrong window fails the load, naming the file, the policy's place and the window's line."""
    first = "{start: '2025-01-01T00:00', end: '2025-01-01T01:00'}"
    settings = f"          windows:\n            - {first}\n            - {window}\n"
    with pytest.raises(ConfigError) as caught:
        load_policy_set(routes_dir(tmp_path, settings), max_body_bytes=1024)
    text = str(caught.value)
    assert text.startswith(f"{tmp_path / 'routes.yaml'}:5 routes[0].policies[0].maintenance-window: ")
    assert message.replace("windows[0]", "windows[1]") in text


def test_unknown_timezone_is_a_config_error(tmp_path: Path) -> None:
    """The zone must be an IANA name."""
    with pytest.raises(ConfigError, match="timezone 'Mars/Olympus' is not an IANA time zone name"):
        load_policy_set(routes_dir(tmp_path, "          timezone: Mars/Olympus\n"), max_body_bytes=1024)
