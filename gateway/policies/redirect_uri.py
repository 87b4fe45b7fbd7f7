"""``redirect-uri``: redirect URIs the TPP sends must be registered (live profile only).

Seed 001: "On our LIVE environment, you will also need to declare a set of allowed redirect
URLs ... this check is not active on Sandbox." Berlin Group headers ``TPP-Redirect-URI`` and
``TPP-Nok-Redirect-URI``; Belfius-style ``Redirect-URI``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode


@dataclass(frozen=True)
class RedirectUriConfig:
    profile: Literal["live", "sandbox"] = doc("live: check against the registry; sandbox: no check.")
    headers: list[str] = doc(
        "Headers that carry redirect URIs.",
        factory=lambda: ["TPP-Redirect-URI", "TPP-Nok-Redirect-URI", "Redirect-URI"],
    )


class RedirectUriPolicy:
    name: ClassVar[str] = "redirect-uri"
    Config: ClassVar[type[RedirectUriConfig]] = RedirectUriConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: RedirectUriConfig) -> None:
        self.live = config.profile == "live"
        self.headers = tuple(config.headers)

    async def enforce(self, ex: Exchange) -> None:
        if not self.live:
            return
        for header in self.headers:
            for uri in ex.headers.getall(header, []):
                if ex.registration is None or not ex.registration.accepts_redirect(uri):
                    raise Reject(Code.FORMAT_ERROR, f"Header {header} is not a registered redirect URI.")
