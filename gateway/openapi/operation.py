"""One spec operation compiled into checks for headers, query, path parameters and JSON body.

Parameters arrive as strings; a parameter whose schema is ``boolean``, ``integer`` or
``number`` is converted first (``true``/``false``, decimal digits), then checked against its
compiled schema. Problems are reported as ``header.X-Request-ID``, ``query.bookingStatus``,
``path.payment-service`` and ``body.access.accounts[0].iban``.

The JSON body is parsed once (the pipeline already bounds its size) and refused when nested
deeper than ``max_depth``, so a validation never recurses further than that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from multidict import MultiMapping

from gateway.openapi.loader import Operation, Parameter, SpecError
from gateway.openapi.schema import Compiler, ValidationProblem, Validator, shorten

ParamCheck = Callable[[list[str]], None]
DEFAULT_MAX_DEPTH = 32
_INTEGER = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_NUMBER = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][+-]?[0-9]{1,3})?", re.ASCII)
_PARAM = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    """The checks of one operation; each method raises ``ValidationProblem`` or returns."""

    method: str
    path: str
    operation_id: str
    headers: tuple[tuple[str, str, bool, ParamCheck], ...]  # (name, lower-case name, required, check)
    query: Mapping[str, ParamCheck]
    path_params: Mapping[str, ParamCheck]
    body: Validator | None
    body_required: bool
    media_types: frozenset[str]
    max_depth: int

    def check_headers(self, headers: MultiMapping[str]) -> None:
        present = {name.lower() for name in headers}
        for name, lower, required, check in self.headers:
            if required or lower in present:
                check(headers.getall(name, []))

    def check_query(self, params: MultiMapping[str], *, reject_unknown: bool = False) -> None:
        for name, check in self.query.items():
            check(params.getall(name, []))
        if reject_unknown:
            for name in params:
                if name not in self.query:
                    raise ValidationProblem(f"query.{shorten(name)}", "is not a parameter of this operation")

    def check_path(self, values: Mapping[str, str]) -> None:
        """Check the path parameters found by matching; ones the match did not name are skipped."""
        for name, value in values.items():
            check = self.path_params.get(name)
            if check is not None:
                check([unquote(value)])

    def check_body(self, content_type: str | None, body: bytes) -> None:
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            if body and media not in self.media_types:
                allowed = ", ".join(sorted(self.media_types)) or "none"
                raise ValidationProblem("header.Content-Type", f"must be one of: {shorten(allowed)}")
            return  # pain.001 XML, multipart: not JSON, not checked here
        if self.body is None:
            return
        if not body.strip():
            if self.body_required:
                raise ValidationProblem("body", "is required")
            return
        self.body(parse_json(body, self.max_depth), "body")


def compile_operation(
    operation: Operation, compiler: Compiler, max_depth: int = DEFAULT_MAX_DEPTH
) -> CompiledOperation:
    by_location: dict[str, dict[str, ParamCheck]] = {"header": {}, "query": {}, "path": {}, "cookie": {}}
    for param in operation.parameters:
        by_location[param.location][param.name] = _param_check(param, compiler)
    required = {p.name for p in operation.parameters if p.location == "header" and p.required}
    return CompiledOperation(
        method=operation.method,
        path=operation.path,
        operation_id=operation.operation_id,
        headers=tuple((n, n.lower(), n in required, check) for n, check in by_location["header"].items()),
        query=by_location["query"],
        path_params=by_location["path"],
        body=compiler.compile(operation.body_schema) if operation.body_schema is not None else None,
        body_required=operation.body_required,
        media_types=operation.body_media_types,
        max_depth=max_depth,
    )


def _param_check(param: Parameter, compiler: Compiler) -> ParamCheck:
    schema = compiler.spec.resolve(param.schema)
    kind = schema.get("type", "string")
    path = f"{param.location}.{param.name}"
    if kind == "array":
        item = _converter(compiler.spec.resolve(schema.get("items", {})).get("type", "string"), path)
        explode = param.location == "query"  # OpenAPI defaults: query style=form explode, header style=simple

        def convert_list(raw: list[str]) -> Any:
            parts = raw if explode else [p.strip() for v in raw for p in v.split(",")]
            return [item(part) for part in parts]

        return _present(param, convert_list, compiler.compile(param.schema), many=True)
    return _present(param, _converter(kind, path), compiler.compile(param.schema), many=False)


def _present(
    param: Parameter, convert: Callable[[Any], Any], validate: Validator, *, many: bool
) -> ParamCheck:
    path, required = f"{param.location}.{param.name}", param.required

    def check(values: list[str]) -> None:
        if not values:
            if required:
                raise ValidationProblem(path, "is required")
            return
        if len(values) > 1 and not many:
            raise ValidationProblem(path, "must appear once")
        validate(convert(values if many else values[0]), path)

    return check


def _converter(kind: Any, path: str) -> Callable[[str], Any]:
    if kind == "string":
        return _same
    if kind == "boolean":
        return lambda raw: _to_bool(raw, path)
    if kind == "integer":
        return lambda raw: _to_number(raw, path, _INTEGER, int, "an integer")
    if kind == "number":
        return lambda raw: _to_number(raw, path, _NUMBER, float, "a number")
    raise SpecError(f"parameter {path}: unsupported parameter type {kind!r}")


def _same(raw: str) -> str:
    return raw


def _to_bool(raw: str, path: str) -> bool:
    if raw not in ("true", "false"):
        raise ValidationProblem(path, "must be true or false")
    return raw == "true"


def _to_number(raw: str, path: str, shape: re.Pattern[str], kind: Callable[[str], Any], label: str) -> Any:
    if not shape.fullmatch(raw):
        raise ValidationProblem(path, f"must be {label}")
    return kind(raw)


def parse_json(body: bytes, max_depth: int) -> Any:
    """Parse a JSON body; invalid JSON, NaN/Infinity and nesting deeper than ``max_depth`` are problems."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise ValidationProblem("body", "is not valid JSON") from e
    if body.count(b"{") + body.count(b"[") > max_depth:  # fewer brackets than that cannot nest deeper
        check_depth(value, max_depth)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_depth(value: Any, max_depth: int) -> None:
    """Refuse objects and arrays nested deeper than ``max_depth`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > max_depth:
            raise ValidationProblem("body", f"is nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def template_regex(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """``/v1/consents/{consentId}`` -> a full-match regex over the raw path, and its parameter names."""
    names = tuple(_PARAM.findall(template))
    parts = _PARAM.split(template)
    regex = "".join(re.escape(part) if i % 2 == 0 else "([^/]+)" for i, part in enumerate(parts))
    return re.compile(regex + "/?"), names
