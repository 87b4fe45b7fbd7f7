"""Compiled operations, and finding the one a concrete request is for.

``OperationTable.match("GET", "/v1/accounts/a1/transactions")`` tries only the templates of
that method with the same number of segments, literal segments before ``{parameters}`` (so
``/v1/accounts/{account-id}/balances`` wins over ``/v1/{payment-service}/{payment-product}/
{paymentId}``), each a regex compiled at load.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.openapi.loader import Spec, SpecError
from gateway.openapi.operation import DEFAULT_MAX_DEPTH, CompiledOperation, compile_operation, template_regex
from gateway.openapi.schema import DEFAULT_OPTIONS, Compiler, Options


@dataclass(frozen=True, slots=True)
class Entry:
    template: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    operation: CompiledOperation


class OperationTable:
    """Request (method, raw path) -> the compiled operation and its path parameter values."""

    def __init__(self, entries: Iterable[tuple[str, CompiledOperation]]) -> None:
        """``entries``: (request path template, operation); the template may differ from the spec's."""
        index: dict[tuple[str, int], list[Entry]] = {}
        for template, operation in entries:
            pattern, names = template_regex(template)
            key = (operation.method, _segments(template))
            index.setdefault(key, []).append(Entry(template, pattern, names, operation))
        self._index = {key: sorted(items, key=_specificity) for key, items in index.items()}

    def __len__(self) -> int:
        return sum(len(items) for items in self._index.values())

    def match(self, method: str, path: str) -> tuple[CompiledOperation, dict[str, str]] | None:
        for entry in self._index.get((method, _segments(path)), ()):
            found = entry.pattern.fullmatch(path)
            if found:
                return entry.operation, dict(zip(entry.names, found.groups(), strict=True))
        return None


def _segments(path: str) -> int:
    return path.rstrip("/").count("/")


def _specificity(entry: Entry) -> tuple[int, ...]:
    return tuple(1 if "{" in part else 0 for part in entry.template.split("/"))


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    """Every operation of one OpenAPI file, compiled; keyed by (METHOD, spec path template)."""

    spec: Spec
    operations: Mapping[tuple[str, str], CompiledOperation]

    def table(self) -> OperationTable:
        return OperationTable((path, op) for (_, path), op in self.operations.items())

    def by_reference(self, reference: str) -> CompiledOperation:
        """An operation by ``operationId`` or by ``"METHOD /spec/path"``."""
        method, _, path = reference.partition(" ")
        if path.startswith("/"):
            key = (method.upper(), path)
            if key not in self.operations:
                self.spec.operation(*key)  # raises the SpecError naming what is missing
            return self.operations[key]
        return self.operations[self.spec.find(reference)]


def compile_spec(
    spec: Spec, options: Options = DEFAULT_OPTIONS, max_depth: int = DEFAULT_MAX_DEPTH
) -> CompiledSpec:
    """Compile every operation of ``spec``; shared ``$ref`` schemas are compiled once."""
    compiler = Compiler(spec, options)
    operations = {
        (method, path): compile_operation(spec.operation(method, path), compiler, max_depth)
        for method, path in spec.operations()
    }
    return CompiledSpec(spec, operations)


def load_compiled(
    path: Path, options: Options = DEFAULT_OPTIONS, max_depth: int = DEFAULT_MAX_DEPTH
) -> CompiledSpec:
    """``compile_spec(Spec.load(path))``, once per file version and options: every route shares it."""
    try:
        stat = path.stat()
    except OSError as e:
        raise SpecError(f"{path}: cannot read: {e.strerror}") from e
    return _load_compiled(path.resolve(), stat.st_mtime_ns, stat.st_size, options, max_depth)


@functools.lru_cache(maxsize=8)
def _load_compiled(path: Path, mtime_ns: int, size: int, options: Options, max_depth: int) -> CompiledSpec:
    return compile_spec(Spec.load(path), options, max_depth)
