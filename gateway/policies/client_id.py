"""``client-id``: the OAuth2 client id the TPP sends must be registered to that TPP.

Belfius-style APIs (seed 002) carry it in a ``Client-ID`` header on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode


@dataclass(frozen=True)
class ClientIdConfig:
    header: str = doc("Request header carrying the client id.", default="Client-ID")


class ClientIdPolicy:
    name: ClassVar[str] = "client-id"
    Config: ClassVar[type[ClientIdConfig]] = ClientIdConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: ClientIdConfig) -> None:
        self.header = config.header

    async def enforce(self, ex: Exchange) -> None:
        values = ex.headers.getall(self.header, [])
        if len(values) != 1:
            raise Reject(Code.FORMAT_ERROR, f"Header {self.header} is required once.")
        if ex.registration is None or values[0] not in ex.registration.client_ids:
            raise Reject(Code.CERTIFICATE_INVALID, f"Header {self.header} is not registered for this TPP.")
