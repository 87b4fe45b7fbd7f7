"""``accept``: the TPP's ``Accept`` must allow one of the media types the bank offers.

Berlin Group 14.11: 406 REQUESTED_FORMATS_INVALID "The requested formats in the Accept header
entry are not matching the formats offered by the ASPSP". Vendor types with versions (seed
002: ``application/vnd.belfius.api+json; version=2``) match only when every parameter the TPP
asks for (``version``) is the offer's; ``*/*``, ``type/*`` and q-values follow RFC 9110 12.5.1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode

MediaType = tuple[str, str, frozenset[tuple[str, str]]]
_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")
_MAX_RANGES = 32


def parse_media(text: str) -> tuple[MediaType, float] | None:
    """``type/subtype; p=v; q=0.5`` -> ((type, subtype, params), q); None when malformed."""
    main, *raw_params = (part.strip() for part in text.split(";"))
    kind, slash, sub = main.lower().partition("/")
    if not slash or not kind or not sub:
        return None
    params: set[tuple[str, str]] = set()
    q = 1.0
    for item in raw_params:
        name, eq, value = item.partition("=")
        if not eq:
            return None
        name, value = name.strip().lower(), value.strip().strip('"')
        if name == "q":
            if not _QVALUE.match(value):  # RFC 9110 12.4.2: 0 to 1, at most three decimals
                return None
            q = float(value)
        else:
            params.add((name, value.lower()))
    return (kind, sub, frozenset(params)), q


def accepts(ranges: list[tuple[MediaType, float]], offer: MediaType) -> bool:
    for (kind, sub, params), q in ranges:
        if q <= 0:
            continue
        if kind not in ("*", offer[0]) or sub not in ("*", offer[1]):
            continue
        if params <= offer[2]:
            return True
    return False


@dataclass(frozen=True)
class AcceptConfig:
    offers: list[str] = doc("Media types the bank answers in, e.g. application/json.")

    def __post_init__(self) -> None:
        if not self.offers:
            raise ValueError("offers must list at least one media type")
        for offer in self.offers:
            if parse_media(offer) is None:
                raise ValueError(f"{offer!r} is not a media type")


class AcceptPolicy:
    name: ClassVar[str] = "accept"
    Config: ClassVar[type[AcceptConfig]] = AcceptConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: AcceptConfig) -> None:
        self.offers = [parsed[0] for parsed in map(parse_media, config.offers) if parsed is not None]
        self.listed = ", ".join(config.offers)

    async def enforce(self, ex: Exchange) -> None:
        header = ex.headers.get("Accept")
        if not header:
            return
        parts = header.split(",")
        ranges = [r for r in map(parse_media, parts[:_MAX_RANGES]) if r is not None]
        if not any(accepts(ranges, offer) for offer in self.offers):
            raise Reject(Code.REQUESTED_FORMATS_INVALID, f"Accept must allow one of: {self.listed}.")
