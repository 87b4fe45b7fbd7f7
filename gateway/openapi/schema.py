"""Compile an OpenAPI 3.0 schema, once, into a plain Python closure ``validate(value, path)``.

The subset is the one the Berlin Group files use, plus its obvious neighbours: ``type``,
``format``, ``enum``, ``pattern``, ``minLength``/``maxLength``, ``minimum``/``maximum`` (with
3.0's boolean ``exclusiveMinimum``/``exclusiveMaximum``), ``multipleOf``, ``required``,
``properties``, ``additionalProperties``, ``minProperties``/``maxProperties``, ``items``,
``minItems``/``maxItems``, ``uniqueItems``, ``oneOf``/``anyOf`` (first match), ``allOf``, ``not``
and ``nullable``. Annotations (``description``, ``example``, ``readOnly``, ``x-*``, ...) are
ignored; any other keyword is a ``SpecError`` at load, never a silent pass.

We do not use ``jsonschema`` or ``openapi-core`` at run time: they re-walk the schema
dictionaries on every call and weigh more than the gateway itself, while a request here
must cost microseconds. Each keyword becomes one small check decided at compile time; a
request only runs the checks its schema has. A failure raises ``ValidationProblem`` with the
path of the offending element (``body.access.accounts[0].iban``) and a short message that
never repeats the input value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.openapi.formats import FORMATS, IP_ANY, compile_pattern
from gateway.openapi.loader import Spec, SpecError

Validator = Callable[[Any, str], None]

_ANNOTATIONS = frozenset(
    {"description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly"}
    | {"externalDocs", "xml", "discriminator"}
)
_TYPES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "integer": (
        lambda v: (
            (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
        ),
        "an integer",
    ),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "array": (lambda v: isinstance(v, list), "an array"),
}
_MAX_SHOWN = 120  # longest pattern, enum list or input key shown in a message


class ValidationProblem(Exception):
    """A value does not match its schema: ``path`` names the element, ``message`` says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path} {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Options:
    """Compile-time choices where the Berlin Group file and its intent differ."""

    anchor_patterns: bool = True  # see formats.compile_pattern
    ipv4_accepts_ipv6: bool = True  # BG declares PSU-IP-Address as ipv4; PSUs also come over IPv6


DEFAULT_OPTIONS = Options()


def shorten(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def kind_of(value: Any) -> str:
    for name in ("boolean", "string", "object", "array", "number"):
        if _TYPES[name][0](value):
            return _TYPES[name][1]
    return "null"


class Compiler:
    """Compiles schemas of one document; ``$ref`` targets are compiled once and shared."""

    def __init__(self, spec: Spec, options: Options = DEFAULT_OPTIONS) -> None:
        self.spec = spec
        self.options = options
        self._done: dict[str, Validator] = {}
        self._building: dict[str, int] = {}  # ref -> nesting level where its compilation began
        self._level = 0

    def compile(self, schema: Any) -> Validator:
        if not isinstance(schema, Mapping):
            raise SpecError(f"{self.spec.source}: a schema must be a mapping, got {type(schema).__name__}")
        if "$ref" in schema:
            return self._reference(schema["$ref"])
        unknown = [
            k for k in schema if k not in _ANNOTATIONS and k not in _KEYWORDS and not k.startswith("x-")
        ]
        if unknown:
            raise SpecError(f"{self.spec.source}: unsupported schema keyword {unknown[0]!r}")
        checks = [check for build in _BUILDERS if (check := build(self, schema)) is not None]
        return _combine(checks, nullable=bool(schema.get("nullable", False)))

    def nested(self, schema: Any) -> Validator:
        """Compile a schema one data level down (a property, an item): recursion through it is safe."""
        self._level += 1
        try:
            return self.compile(schema)
        finally:
            self._level -= 1

    def _reference(self, ref: str) -> Validator:
        if ref in self._done:
            return self._done[ref]
        if ref in self._building:
            if self._building[ref] == self._level:
                raise SpecError(f"{self.spec.source}: {ref} refers to itself without nesting")
            done = self._done
            return lambda value, path: done[ref](value, path)  # bound late: the cycle closes below
        self._building[ref] = self._level
        try:
            validator = self.compile(self.spec.resolve({"$ref": ref}))
        finally:
            del self._building[ref]
        self._done[ref] = validator
        return validator


def _combine(checks: Sequence[Validator], *, nullable: bool) -> Validator:
    if not checks:
        return _accept
    if len(checks) == 1 and not nullable:
        return checks[0]

    def validate(value: Any, path: str) -> None:
        if value is None and nullable:
            return
        for check in checks:
            check(value, path)

    return validate


def _accept(value: Any, path: str) -> None:
    return None


def _type(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    name = schema.get("type")
    if name is None:
        return None
    if name not in _TYPES:
        raise SpecError(f"{c.spec.source}: unsupported type {name!r}")
    test, label = _TYPES[name]

    def check(value: Any, path: str) -> None:
        if not test(value):
            raise ValidationProblem(path, f"must be {label}, not {kind_of(value)}")

    return check


def _enum(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    allowed = schema.get("enum")
    if allowed is None:
        return None
    if not isinstance(allowed, list) or not allowed:
        raise SpecError(f"{c.spec.source}: 'enum' must be a non-empty list")
    message = "must be one of: " + shorten(", ".join(map(str, allowed)))
    if all(isinstance(a, str) for a in allowed):
        strings = frozenset(allowed)

        def check_str(value: Any, path: str) -> None:
            if not (isinstance(value, str) and value in strings):
                raise ValidationProblem(path, message)

        return check_str
    canonical = {json.dumps(a, sort_keys=True) for a in allowed}

    def check(value: Any, path: str) -> None:
        if json.dumps(value, sort_keys=True) not in canonical:
            raise ValidationProblem(path, message)

    return check


def _string(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    low, high = schema.get("minLength"), schema.get("maxLength")
    tests: list[tuple[Callable[[str], bool], str]] = []
    if low is not None:
        tests.append((lambda s: len(s) >= low, f"must be at least {low} characters long"))
    if high is not None:
        tests.append((lambda s: len(s) <= high, f"must be at most {high} characters long"))
    if "pattern" in schema:
        matches = _pattern(c, schema["pattern"])
        tests.append((matches, f"must match the pattern {shorten(schema['pattern'])}"))
    if "format" in schema:
        tests.extend(_format(c, schema["format"]))
    return _string_checks(tests) if tests else None


def _pattern(c: Compiler, pattern: Any) -> Callable[[str], bool]:
    try:
        return compile_pattern(str(pattern), anchored=c.options.anchor_patterns)
    except Exception as e:  # re.error, and anything an odd pattern trips in the adapter
        raise SpecError(f"{c.spec.source}: pattern {pattern!r} does not compile: {e}") from e


def _format(c: Compiler, name: Any) -> list[tuple[Callable[[str], bool], str]]:
    if name == "ipv4" and c.options.ipv4_accepts_ipv6:
        return [IP_ANY]
    return [FORMATS[name]] if name in FORMATS else []


def _string_checks(tests: Sequence[tuple[Callable[[str], bool], str]]) -> Validator:
    def check(value: Any, path: str) -> None:
        if isinstance(value, str):
            for test, message in tests:
                if not test(value):
                    raise ValidationProblem(path, message)

    return check


def _number(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    tests: list[tuple[Callable[[float], bool], str]] = []
    low, high, step = schema.get("minimum"), schema.get("maximum"), schema.get("multipleOf")
    if low is not None and schema.get("exclusiveMinimum"):
        tests.append((lambda n: n > low, f"must be greater than {low}"))
    elif low is not None:
        tests.append((lambda n: n >= low, f"must be at least {low}"))
    if high is not None and schema.get("exclusiveMaximum"):
        tests.append((lambda n: n < high, f"must be less than {high}"))
    elif high is not None:
        tests.append((lambda n: n <= high, f"must be at most {high}"))
    if step is not None:
        tests.append((lambda n: _is_multiple(n, step), f"must be a multiple of {step}"))
    if not tests:
        return None

    def check(value: Any, path: str) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            for test, message in tests:
                if not test(value):
                    raise ValidationProblem(path, message)

    return check


def _is_multiple(value: float, step: float) -> bool:
    if isinstance(value, int) and isinstance(step, int):
        return value % step == 0
    try:
        quotient = value / step
    except OverflowError:
        return False
    return math.isfinite(quotient) and math.isclose(quotient, round(quotient))


def _object(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    keys = ("properties", "required", "additionalProperties", "minProperties", "maxProperties")
    if not any(k in schema for k in keys):
        return None
    required = tuple(schema.get("required", ()))
    properties = {name: c.nested(sub) for name, sub in (schema.get("properties") or {}).items()}
    extra = schema.get("additionalProperties", True)
    other: Validator | None = None if isinstance(extra, bool) else c.nested(extra)
    closed = extra is False
    low, high = schema.get("minProperties", 0), schema.get("maxProperties")

    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            return
        for name in required:
            if name not in value:
                raise ValidationProblem(f"{path}.{name}", "is required")
        for key, item in value.items():
            sub = properties.get(key)
            if sub is not None:
                sub(item, f"{path}.{key}")
            elif closed:
                raise ValidationProblem(f"{path}.{shorten(str(key))}", "is not allowed here")
            elif other is not None:
                other(item, f"{path}.{shorten(str(key))}")
        if len(value) < low:
            raise ValidationProblem(path, f"must have at least {low} members")
        if high is not None and len(value) > high:
            raise ValidationProblem(path, f"must have at most {high} members")

    return check


def _array(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    if not any(k in schema for k in ("items", "minItems", "maxItems", "uniqueItems")):
        return None
    items = c.nested(schema["items"]) if "items" in schema else None
    low, high, unique = schema.get("minItems", 0), schema.get("maxItems"), schema.get("uniqueItems", False)

    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            return
        if len(value) < low:
            raise ValidationProblem(path, f"must have at least {low} items")
        if high is not None and len(value) > high:
            raise ValidationProblem(path, f"must have at most {high} items")
        if unique and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            raise ValidationProblem(path, "must not contain duplicate items")
        if items is not None:
            for index, item in enumerate(value):
                items(item, f"{path}[{index}]")

    return check


def _all_of(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    if "allOf" not in schema:
        return None
    return _combine([c.compile(sub) for sub in schema["allOf"]], nullable=False)


def _one_of(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    return _first_match(c, schema["oneOf"]) if "oneOf" in schema else None


def _any_of(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    return _first_match(c, schema["anyOf"]) if "anyOf" in schema else None


def _first_match(c: Compiler, schemas: Sequence[Any]) -> Validator:
    """``oneOf`` and ``anyOf`` both take the first alternative that matches.

    Strict ``oneOf`` would try every alternative to prove exactly one matches; the Berlin
    Group alternatives overlap (a periodic payment is also a valid single payment, since extra
    members are allowed), so "exactly one" would reject requests the specification means to allow.
    """
    names = [_name(sub, i) for i, sub in enumerate(schemas)]
    alternatives = [c.compile(sub) for sub in schemas]
    summary = "must match one of: " + shorten(", ".join(names))

    def check(value: Any, path: str) -> None:
        problems = []
        for alternative in alternatives:
            try:
                alternative(value, path)
            except ValidationProblem as problem:
                problems.append(problem)
            else:
                return
        raise _closest(problems, path, summary)

    return check


def _closest(problems: list[ValidationProblem], path: str, summary: str) -> ValidationProblem:
    """The failure that got deepest into the value: most likely the alternative the client meant."""
    best = max(problems, key=lambda p: p.path.count(".") + p.path.count("["))
    if best.path != path or len({p.message for p in problems}) == 1:
        return best
    return ValidationProblem(path, summary)


def _name(schema: Any, index: int) -> str:
    ref = schema.get("$ref", "") if isinstance(schema, Mapping) else ""
    return ref.rsplit("/", 1)[-1] if ref else f"alternative {index + 1}"


def _not(c: Compiler, schema: Mapping[str, Any]) -> Validator | None:
    if "not" not in schema:
        return None
    inner = c.compile(schema["not"])

    def check(value: Any, path: str) -> None:
        try:
            inner(value, path)
        except ValidationProblem:
            return
        raise ValidationProblem(path, "must not match the excluded shape")

    return check


_BUILDERS: tuple[Callable[[Compiler, Mapping[str, Any]], Validator | None], ...] = (
    _type,
    _enum,
    _string,
    _number,
    _object,
    _array,
    _all_of,
    _one_of,
    _any_of,
    _not,
)
_KEYWORDS = frozenset(
    {"type", "enum", "format", "pattern", "minLength", "maxLength", "minimum", "maximum", "multipleOf"}
    | {"properties", "required", "additionalProperties", "minProperties", "maxProperties"}
    | {"items", "minItems", "maxItems", "uniqueItems", "allOf", "oneOf", "anyOf", "not", "nullable"}
    | {"exclusiveMinimum", "exclusiveMaximum"}
)
