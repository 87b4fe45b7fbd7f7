"""Read an OpenAPI 3.0 file and resolve what one operation needs: parameters and JSON body schema.

Only local references (``#/components/...``) are followed; a chain of references that comes
back to itself (``A -> B -> A`` with nothing in between) is a ``SpecError``. References
*inside* schemas are left in place: the compiler (``gateway.openapi.schema``) resolves them,
memoised, so a recursive schema compiles to a recursive validator instead of looping.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import GatewayError

SHIPPED_SPEC = Path(__file__).with_name("psd2-api_v1.3.11-2021-10-01v1.yaml")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# OpenAPI 3.0.1, Parameter Object: header parameters with these names "SHALL be ignored".
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


class SpecError(GatewayError):
    """The OpenAPI file cannot be used: unreadable, a bad reference, or an unsupported construct."""


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # header, query or path
    required: bool
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one spec path, with its references resolved down to the schemas."""

    method: str  # upper case
    path: str  # the spec's template, e.g. /v1/{payment-service}/{payment-product}
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_required: bool
    body_schema: Mapping[str, Any] | None  # the application/json schema, if any
    body_media_types: frozenset[str]


class Spec:
    """A parsed OpenAPI document with reference resolution."""

    def __init__(self, document: Mapping[str, Any], source: str = "<memory>") -> None:
        if not isinstance(document, Mapping) or not isinstance(document.get("paths"), Mapping):
            raise SpecError(f"{source}: not an OpenAPI document (no 'paths' mapping)")
        self.document = document
        self.source = source

    @classmethod
    def load(cls, path: Path) -> Spec:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"{path}: cannot read: {e.strerror}") from e
        try:
            document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as e:
            raise SpecError(f"{path}: not valid YAML: {e}") from e
        return cls(document, str(path))

    def lookup(self, ref: str) -> Any:
        """The node a local ``#/...`` reference points at (JSON Pointer, RFC 6901)."""
        if not ref.startswith("#/"):
            raise SpecError(f"{self.source}: only local references are supported, got {ref!r}")
        node: Any = self.document
        for raw in ref[2:].split("/"):
            key = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise SpecError(f"{self.source}: unresolvable reference {ref!r}")
            node = node[key]
        return node

    def resolve(self, node: Any) -> Any:
        """Follow ``$ref`` until a node that is not a reference; a reference loop is an error."""
        seen: list[str] = []
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise SpecError(f"{self.source}: reference cycle {' -> '.join([*seen, ref])}")
            seen.append(ref)
            node = self.lookup(ref)
        return node

    def operations(self) -> Iterator[tuple[str, str]]:
        """Every (METHOD, path template) the document defines, in file order."""
        for path, item in self.document["paths"].items():
            for method in self.resolve(item):
                if method in HTTP_METHODS:
                    yield method.upper(), path

    def find(self, operation_id: str) -> tuple[str, str]:
        """(METHOD, path) of the operation with this ``operationId``."""
        for method, path in self.operations():
            if self._raw_operation(method, path).get("operationId") == operation_id:
                return method, path
        raise SpecError(f"{self.source}: no operation with operationId {operation_id!r}")

    def operation(self, method: str, path: str) -> Operation:
        """The operation with its path-level and own parameters merged (own ones win)."""
        raw = self._raw_operation(method, path)
        item = self.resolve(self.document["paths"][path])
        params: dict[tuple[str, str], Parameter] = {}
        for node in [*item.get("parameters", ()), *raw.get("parameters", ())]:
            param = self._parameter(node, f"{method} {path}")
            if not (param.location == "header" and param.name.lower() in _IGNORED_HEADERS):
                params[(param.location, param.name.lower())] = param
        required, schema, media = self._body(raw.get("requestBody"))
        return Operation(
            method.upper(),
            path,
            str(raw.get("operationId", "")),
            tuple(params.values()),
            required,
            schema,
            media,
        )

    def _raw_operation(self, method: str, path: str) -> Mapping[str, Any]:
        item = self.resolve(self.document["paths"].get(path))
        raw = item.get(method.lower()) if isinstance(item, Mapping) else None
        if not isinstance(raw, Mapping):
            raise SpecError(f"{self.source}: no operation {method.upper()} {path}")
        return raw

    def _parameter(self, node: Any, where: str) -> Parameter:
        param = self.resolve(node)
        location, name = param.get("in"), param.get("name")
        if location not in ("header", "query", "path", "cookie") or not isinstance(name, str):
            raise SpecError(f"{self.source}: {where}: a parameter needs 'name' and a valid 'in'")
        if "schema" not in param:
            raise SpecError(
                f"{self.source}: {where}: parameter {name!r} has no schema ('content' is unsupported)"
            )
        return Parameter(name, location, bool(param.get("required", location == "path")), param["schema"])

    def _body(self, node: Any) -> tuple[bool, Mapping[str, Any] | None, frozenset[str]]:
        if node is None:
            return False, None, frozenset()
        body = self.resolve(node)
        content = body.get("content") or {}
        json_media = content.get("application/json")
        schema = json_media.get("schema") if isinstance(json_media, Mapping) else None
        return bool(body.get("required", False)), schema, frozenset(content)
