"""``request-id``: every request carries a UUID request id, echoed in the response.

Berlin Group NextGenPSD2 1.3, section 4.4: ``X-Request-ID`` is mandatory on every request,
"ID of the request, unique to the call, as determined by the initiating party" (UUID format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class RequestIdConfig:
    header: str = doc("Request header that carries the id.", default="X-Request-ID")
    echo_as: str = doc("Response header the id is echoed in (empty: no echo).", default="X-Request-ID")


class RequestIdPolicy:
    name: ClassVar[str] = "request-id"
    Config: ClassVar[type[RequestIdConfig]] = RequestIdConfig
    default_fail: ClassVar[FailMode] = "open"

    def __init__(self, config: RequestIdConfig) -> None:
        self.header = config.header
        self.echo_as = config.echo_as

    async def enforce(self, ex: Exchange) -> None:
        values = ex.headers.getall(self.header, [])
        if len(values) != 1:
            problem = "is missing" if not values else "must appear once"
            raise Reject(Code.FORMAT_ERROR, f"Header {self.header} {problem}.")
        if not UUID.match(values[0]):
            raise Reject(Code.FORMAT_ERROR, f"Header {self.header} must be a UUID.")
        ex.request_id = values[0]
        if self.echo_as:
            ex.response_headers[self.echo_as] = values[0]
