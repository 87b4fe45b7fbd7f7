"""``api-key``: the TPP's application key, checked against the TPP registry.

Some bank portals (seed 001: "An API Key is used in all API calls and must be put in the
request header apiKey") require it on every call. The key proves which of the TPP's
applications is calling; it is removed before the core unless ``forward`` is set, and can
be replaced by the core's own credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode


@dataclass(frozen=True)
class ApiKeyConfig:
    header: str = doc("Request header carrying the key.", default="apiKey")
    forward: bool = doc("Pass the TPP's key on to the core.", default=False)
    core_header: str = doc("Header to send the core's own credential in (empty: none).", default="")
    core_value: str = doc("The core's own credential (e.g. from an environment variable).", default="")


class ApiKeyPolicy:
    name: ClassVar[str] = "api-key"
    Config: ClassVar[type[ApiKeyConfig]] = ApiKeyConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: ApiKeyConfig) -> None:
        self.config = config

    async def enforce(self, ex: Exchange) -> None:
        values = ex.headers.getall(self.config.header, [])
        if len(values) != 1:
            raise Reject(Code.FORMAT_ERROR, f"Header {self.config.header} is required once.")
        if ex.registration is None or not ex.registration.accepts_api_key(values[0]):
            raise Reject(Code.CERTIFICATE_INVALID, f"Header {self.config.header} is not valid for this TPP.")
        if not self.config.forward:
            ex.drop_upstream_header(self.config.header)
        if self.config.core_header:
            ex.upstream_headers[self.config.core_header] = self.config.core_value
