"""Rejections: errors as values that know their Berlin Group response.

    GatewayError                  a configuration or start-up problem (never per request)
    Reject                        a request stops here; carries code, status, text, headers
      ├── raised by policies      (FORMAT_ERROR, ROLE_INVALID, ACCESS_EXCEEDED, ...)
      ├── raised by identity      (CERTIFICATE_INVALID, CERTIFICATE_EXPIRED, ...)
      └── raised by upstream      (502/504 with an INTERNAL_SERVER_ERROR-like code)

A ``Reject`` is raised once, where the rule fails, and rendered in one place
(``gateway.render``) in the route's error dialect; it leaves through the same exit
as a forwarded response, so metrics and the request log see both alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Code(StrEnum):
    """Berlin Group NextGenPSD2 message codes with their default HTTP status (spec 1.3.11, 14.11)."""

    FORMAT_ERROR = "FORMAT_ERROR"
    PARAMETER_NOT_CONSISTENT = "PARAMETER_NOT_CONSISTENT"
    PARAMETER_NOT_SUPPORTED = "PARAMETER_NOT_SUPPORTED"
    PERIOD_INVALID = "PERIOD_INVALID"
    TIMESTAMP_INVALID = "TIMESTAMP_INVALID"
    SERVICE_INVALID = "SERVICE_INVALID"
    RESOURCE_UNKNOWN = "RESOURCE_UNKNOWN"
    RESOURCE_EXPIRED = "RESOURCE_EXPIRED"
    RESOURCE_BLOCKED = "RESOURCE_BLOCKED"
    STATUS_INVALID = "STATUS_INVALID"
    CERTIFICATE_INVALID = "CERTIFICATE_INVALID"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_BLOCKED = "CERTIFICATE_BLOCKED"
    CERTIFICATE_REVOKED = "CERTIFICATE_REVOKED"
    CERTIFICATE_MISSING = "CERTIFICATE_MISSING"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    CORPORATE_ID_INVALID = "CORPORATE_ID_INVALID"
    PSU_CREDENTIALS_INVALID = "PSU_CREDENTIALS_INVALID"
    CONSENT_INVALID = "CONSENT_INVALID"
    CONSENT_EXPIRED = "CONSENT_EXPIRED"
    CONSENT_UNKNOWN = "CONSENT_UNKNOWN"
    TOKEN_UNKNOWN = "TOKEN_UNKNOWN"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    ROLE_INVALID = "ROLE_INVALID"
    SERVICE_BLOCKED = "SERVICE_BLOCKED"
    ACCESS_EXCEEDED = "ACCESS_EXCEEDED"
    REQUESTED_FORMATS_INVALID = "REQUESTED_FORMATS_INVALID"
    PRODUCT_UNKNOWN = "PRODUCT_UNKNOWN"
    PRODUCT_INVALID = "PRODUCT_INVALID"
    # The Berlin Group defines no message codes for 5xx; these name the gateway's own 5xx answers.
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    BAD_GATEWAY = "BAD_GATEWAY"
    GATEWAY_TIMEOUT = "GATEWAY_TIMEOUT"

    @property
    def default_status(self) -> int:
        return DEFAULT_STATUS[self]


DEFAULT_STATUS: Mapping[Code, int] = {
    Code.FORMAT_ERROR: 400,
    Code.PARAMETER_NOT_CONSISTENT: 400,
    Code.PARAMETER_NOT_SUPPORTED: 400,
    Code.PERIOD_INVALID: 400,
    Code.TIMESTAMP_INVALID: 400,
    Code.SERVICE_INVALID: 400,
    Code.RESOURCE_UNKNOWN: 404,
    Code.RESOURCE_EXPIRED: 400,
    Code.RESOURCE_BLOCKED: 400,
    Code.STATUS_INVALID: 409,
    Code.CERTIFICATE_INVALID: 401,
    Code.CERTIFICATE_EXPIRED: 401,
    Code.CERTIFICATE_BLOCKED: 401,
    Code.CERTIFICATE_REVOKED: 401,
    Code.CERTIFICATE_MISSING: 401,
    Code.SIGNATURE_INVALID: 401,
    Code.SIGNATURE_MISSING: 401,
    Code.CORPORATE_ID_INVALID: 401,
    Code.PSU_CREDENTIALS_INVALID: 401,
    Code.CONSENT_INVALID: 401,
    Code.CONSENT_EXPIRED: 401,
    Code.CONSENT_UNKNOWN: 403,
    Code.TOKEN_UNKNOWN: 401,
    Code.TOKEN_INVALID: 401,
    Code.TOKEN_EXPIRED: 401,
    Code.ROLE_INVALID: 401,
    Code.SERVICE_BLOCKED: 403,
    Code.ACCESS_EXCEEDED: 429,
    Code.REQUESTED_FORMATS_INVALID: 406,
    Code.PRODUCT_UNKNOWN: 404,
    Code.PRODUCT_INVALID: 403,
    Code.SERVICE_UNAVAILABLE: 503,
    Code.INTERNAL_SERVER_ERROR: 500,
    Code.BAD_GATEWAY: 502,
    Code.GATEWAY_TIMEOUT: 504,
}


@dataclass(eq=False)
class Reject(Exception):
    """A request stops here. ``text`` is for the TPP: say which rule and header failed, never internals."""

    code: Code
    text: str
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    rule: str = ""
    # Berlin Group tppMessage "path": the offending element, e.g. "body.access.accounts[0].iban".
    path: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            self.status = self.code.default_status
        super().__init__(f"{self.code.value}: {self.text}")


class GatewayError(Exception):
    """A configuration or start-up problem; the message names file, key and what is wrong."""
