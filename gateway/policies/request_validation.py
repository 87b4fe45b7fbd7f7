"""``request-validation``: headers, query, path parameters and JSON body against an OpenAPI file.

Off unless a route lists it. The file (by default the shipped Berlin Group NextGenPSD2 1.3.11
definition) is compiled once per process when the policy set loads, into plain Python checks
(``gateway.openapi``); a request then costs a regex lookup for its operation and the checks
its schema has. A problem is ``400 FORMAT_ERROR`` whose tppMessage ``path`` names the element::

    - request-validation: {validate: [headers, query, body], reject-unknown-query: true}

Which operation a request is: by default the one whose spec path matches the concrete path
and method (``/v1/payments/sepa-credit-transfers`` is ``POST /v1/{payment-service}/
{payment-product}``), so one ``/v1/payments/**`` route covers every operation below it. A
bank whose paths differ from the specification maps them explicitly with ``operations``::

    operations: {"POST /psd2/v1/consents": createConsent, "GET /psd2/v1/accounts": "GET /v1/accounts"}

A request that is no operation of the file passes (``unknown-operation: pass``, the default:
the route already decided it may reach the core) or is refused with ``reject``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.openapi import (
    SHIPPED_SPEC,
    CompiledOperation,
    OperationTable,
    Options,
    SpecError,
    ValidationProblem,
    load_compiled,
)
from gateway.policies.base import FailMode

Part = Literal["headers", "query", "path", "body"]
ALL_PARTS: tuple[Part, ...] = ("headers", "query", "path", "body")


@dataclass(frozen=True)
class RequestValidationConfig:
    spec: Path = doc("OpenAPI 3.0 file (default: the shipped Berlin Group 1.3.11 one).", default=SHIPPED_SPEC)
    operations: dict[str, str] = doc(
        "Optional map 'METHOD /request/path/{param}' -> spec operationId or 'METHOD /spec/path'; "
        "when given, only these are validated (default: match requests to the spec's own paths).",
        factory=dict,
    )
    validate: list[Part] = doc("Parts to check: headers, query, path, body.", factory=lambda: list(ALL_PARTS))
    reject_unknown_query: bool = doc("Refuse query parameters the operation does not define.", default=False)
    unknown_operation: Literal["pass", "reject"] = doc(
        "A request that is no operation of the spec: pass it on, or refuse it (400 SERVICE_INVALID).",
        default="pass",
    )
    anchor_patterns: bool = doc("Match patterns against the whole value, as the spec means.", default=True)
    ipv4_accepts_ipv6: bool = doc("Accept IPv6 where the spec says ipv4 (PSU-IP-Address).", default=True)
    max_depth: int = doc("Deepest JSON nesting accepted in a body.", default=32, minimum=1, maximum=256)

    def __post_init__(self) -> None:
        build_table(self)  # compiled (and cached) now, so a bad spec or mapping fails at load, located


def build_table(config: RequestValidationConfig) -> OperationTable:
    """The operations this policy validates; a ``SpecError`` becomes a ``ValueError`` for the loader."""
    options = Options(anchor_patterns=config.anchor_patterns, ipv4_accepts_ipv6=config.ipv4_accepts_ipv6)
    try:
        compiled = load_compiled(config.spec, options, config.max_depth)
        if not config.operations:
            return compiled.table()
        return OperationTable(_mapped(compiled.by_reference, config.operations))
    except SpecError as e:
        raise ValueError(str(e)) from e


def _mapped(
    lookup: Callable[[str], CompiledOperation], operations: dict[str, str]
) -> list[tuple[str, CompiledOperation]]:
    entries = []
    for request, reference in operations.items():
        method, _, template = request.partition(" ")
        if not template.startswith("/"):
            raise SpecError(f"operations: {request!r} must look like 'GET /path/{{param}}'")
        operation = lookup(reference)
        if operation.method != method.upper():
            raise SpecError(f"operations: {request!r} maps to {operation.method} {operation.path}")
        entries.append((template, operation))
    return entries


class RequestValidationPolicy:
    name: ClassVar[str] = "request-validation"
    Config: ClassVar[type[RequestValidationConfig]] = RequestValidationConfig
    default_fail: ClassVar[FailMode] = "open"

    def __init__(self, config: RequestValidationConfig) -> None:
        self.table = build_table(config)
        self.parts = frozenset(config.validate)
        self.reject_unknown_query = config.reject_unknown_query
        self.reject_unknown_operation = config.unknown_operation == "reject"

    async def enforce(self, ex: Exchange) -> None:
        found = self.table.match(ex.method, ex.target.path)
        if found is None:
            if self.reject_unknown_operation:
                raise Reject(Code.SERVICE_INVALID, "The request is no operation of the API specification.")
            return
        operation, path_values = found
        try:
            if "path" in self.parts:
                operation.check_path(path_values)
            if "headers" in self.parts:
                operation.check_headers(ex.headers)
            if "query" in self.parts:
                operation.check_query(ex.target.query_params(), reject_unknown=self.reject_unknown_query)
            if "body" in self.parts:
                operation.check_body(ex.headers.get("Content-Type"), ex.body)
        except ValidationProblem as problem:
            raise Reject(Code.FORMAT_ERROR, f"{problem.path} {problem.message}.", path=problem.path) from None
