"""The schema compiler, keyword by keyword: what passes, what fails, and the path it names."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.openapi import SpecError, ValidationProblem

from .factories import compile_schema

OBJ = {"type": "object", "properties": {"a": {"type": "string"}}}

# (keyword, schema, valid values, invalid values with (path, message))
KEYWORD_CASES: list[tuple[str, dict[str, Any], list[Any], list[tuple[Any, str, str]]]] = [
    ("type string", {"type": "string"}, ["", "x"], [(1, "v", "must be a string, not a number")]),
    ("type integer", {"type": "integer"}, [0, -3, 2.0], [(1.5, "v", "must be an integer, not a number")]),
    ("type integer no bool", {"type": "integer"}, [1], [(True, "v", "must be an integer, not a boolean")]),
    ("type number", {"type": "number"}, [1, 1.5], [("1", "v", "must be a number, not a string")]),
    ("type boolean", {"type": "boolean"}, [True, False], [(0, "v", "must be a boolean, not a number")]),
    ("type object", {"type": "object"}, [{}], [([], "v", "must be an object, not an array")]),
    ("type array", {"type": "array"}, [[]], [({}, "v", "must be an array, not an object")]),
    ("null is not a string", {"type": "string"}, ["x"], [(None, "v", "must be a string, not null")]),
    (
        "nullable",
        {"type": "string", "nullable": True},
        [None, "x"],
        [(1, "v", "must be a string, not a number")],
    ),
    (
        "enum",
        {"enum": ["a", "b"]},
        ["a"],
        [("c", "v", "must be one of: a, b"), (["a"], "v", "must be one of: a, b")],
    ),
    ("enum mixed", {"enum": [1, "x", None]}, [1, "x", None], [(True, "v", "must be one of: 1, x, None")]),
    ("minLength", {"minLength": 2}, ["ab", 5], [("a", "v", "must be at least 2 characters long")]),
    ("maxLength", {"maxLength": 2}, ["ab", ""], [("abc", "v", "must be at most 2 characters long")]),
    (
        "pattern anchored",
        {"pattern": "[A-Z]{3}"},
        ["EUR"],
        [("EURO", "v", "must match the pattern [A-Z]{3}")],
    ),
    (
        "pattern newline",
        {"pattern": "^[A-Z]{3}$"},
        ["EUR"],
        [("EUR\n", "v", "must match the pattern ^[A-Z]{3}$")],
    ),
    ("format date", {"format": "date"}, ["2024-02-29"], [("2023-02-29", "v", "must be a date (YYYY-MM-DD)")]),
    (
        "format uuid",
        {"format": "uuid"},
        ["99391c7e-ad88-49ec-a2ad-99ddcb1f7721"],
        [("x", "v", "must be a UUID")],
    ),
    ("format unknown", {"format": "uri"}, ["not a uri"], []),
    ("minimum", {"minimum": 1}, [1, "0"], [(0, "v", "must be at least 1")]),
    ("exclusiveMinimum", {"minimum": 1, "exclusiveMinimum": True}, [2], [(1, "v", "must be greater than 1")]),
    ("maximum", {"maximum": 4}, [4], [(5, "v", "must be at most 4")]),
    ("exclusiveMaximum", {"maximum": 4, "exclusiveMaximum": True}, [3.5], [(4, "v", "must be less than 4")]),
    ("multipleOf", {"multipleOf": 0.01}, [1.25, 3], [(1.255, "v", "must be a multiple of 0.01")]),
    ("required", {"required": ["a"]}, [{"a": 1}, "x"], [({}, "v.a", "is required")]),
    ("properties", OBJ, [{"a": "x", "b": 1}], [({"a": 1}, "v.a", "must be a string, not a number")]),
    (
        "additionalProperties false",
        {**OBJ, "additionalProperties": False},
        [{"a": "x"}],
        [({"b": 1}, "v.b", "is not allowed here")],
    ),
    (
        "additionalProperties schema",
        {"additionalProperties": {"type": "integer"}},
        [{"x": 1}],
        [({"x": "1"}, "v.x", "must be an integer, not a string")],
    ),
    ("minProperties", {"minProperties": 1}, [{"a": 1}], [({}, "v", "must have at least 1 members")]),
    (
        "maxProperties",
        {"maxProperties": 1},
        [{"a": 1}],
        [({"a": 1, "b": 2}, "v", "must have at most 1 members")],
    ),
    (
        "items",
        {"items": {"type": "string"}},
        [["a", "b"]],
        [(["a", 2], "v[1]", "must be a string, not a number")],
    ),
    ("minItems", {"minItems": 1}, [[1]], [([], "v", "must have at least 1 items")]),
    ("maxItems", {"maxItems": 1}, [[1]], [([1, 2], "v", "must have at most 1 items")]),
    (
        "uniqueItems",
        {"uniqueItems": True},
        [[1, 2]],
        [([{"a": 1}, {"a": 1}], "v", "must not contain duplicate items")],
    ),
    (
        "allOf",
        {"allOf": [{"type": "string"}, {"maxLength": 1}]},
        ["a"],
        [("ab", "v", "must be at most 1 characters long")],
    ),
    (
        "anyOf first match",
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        ["a", 1],
        [(1.5, "v", "must match one of: alternative 1, alternative 2")],
    ),
    ("not", {"not": {"type": "string"}}, [1], [("a", "v", "must not match the excluded shape")]),
]


@pytest.mark.parametrize(
    ("schema", "valid", "invalid"), [c[1:] for c in KEYWORD_CASES], ids=[c[0] for c in KEYWORD_CASES]
)
def test_keyword(schema: dict[str, Any], valid: list[Any], invalid: list[tuple[Any, str, str]]) -> None:
    """Each keyword accepts its valid values and rejects each invalid one at the exact path and message."""
    validate = compile_schema(schema)
    for value in valid:
        validate(value, "v")
    for value, path, message in invalid:
        with pytest.raises(ValidationProblem) as caught:
            validate(value, "v")
        assert (caught.value.path, caught.value.message) == (path, message)


def test_one_of_reports_the_alternative_that_got_deepest() -> None:
    """When no oneOf alternative matches, the failure deepest in the value is the one reported."""
    validate = compile_schema(
        {"oneOf": [{"$ref": "#/components/schemas/Single"}, {"$ref": "#/components/schemas/Bulk"}]},
        {
            "Single": {"type": "object", "required": ["name"], "properties": {"name": {"maxLength": 3}}},
            "Bulk": {"type": "object", "required": ["items"]},
        },
    )
    with pytest.raises(ValidationProblem) as caught:
        validate({"name": "toolong"}, "body")
    assert (caught.value.path, caught.value.message) == ("body.name", "must be at most 3 characters long")
    with pytest.raises(ValidationProblem) as caught:
        validate([], "body")
    assert caught.value.message == "must be an object, not an array"


def test_one_of_names_the_alternatives_when_none_got_further() -> None:
    """A value that fails every alternative at its root gets a message naming them all."""
    validate = compile_schema({"oneOf": [{"$ref": "#/components/schemas/A"}, {"type": "integer"}]}, {"A": {}})
    validate({"any": "thing"}, "v")
    validate = compile_schema(
        {"oneOf": [{"$ref": "#/components/schemas/A"}, {"type": "integer"}]}, {"A": {"type": "string"}}
    )
    with pytest.raises(ValidationProblem, match="must match one of: A, alternative 2"):
        validate(1.5, "v")


def test_pattern_can_be_unanchored() -> None:
    """With anchor_patterns off, a pattern matches anywhere in the value, as JSON Schema says."""
    compile_schema({"pattern": "[A-Z]{3}"}, anchor_patterns=False)("xEURx", "v")


def test_ipv4_format_accepts_ipv6_only_when_told() -> None:
    """The ipv4 format is strict unless ipv4_accepts_ipv6 is set (the gateway's default)."""
    compile_schema({"format": "ipv4"})("2001:db8::1", "v")
    with pytest.raises(ValidationProblem, match="must be an IPv4 address"):
        compile_schema({"format": "ipv4"}, ipv4_accepts_ipv6=False)("2001:db8::1", "v")


def test_recursive_schema_compiles_once_and_validates_depth_first() -> None:
    """A schema that contains itself through a property compiles, and validates every level."""
    node = {
        "type": "object",
        "properties": {"child": {"$ref": "#/components/schemas/Node"}, "n": {"type": "integer"}},
    }
    validate = compile_schema({"$ref": "#/components/schemas/Node"}, {"Node": node})
    validate({"n": 1, "child": {"n": 2, "child": {"n": 3}}}, "v")
    with pytest.raises(ValidationProblem) as caught:
        validate({"child": {"child": {"n": "x"}}}, "v")
    assert caught.value.path == "v.child.child.n"


@pytest.mark.parametrize(
    ("components", "match"),
    [
        (
            {"Node": {"$ref": "#/components/schemas/Other"}, "Other": {"$ref": "#/components/schemas/Node"}},
            "cycle",
        ),
        ({"Node": {"allOf": [{"$ref": "#/components/schemas/Node"}]}}, "without nesting"),
        ({"Node": {"oneOf": [{"$ref": "#/components/schemas/Missing"}]}}, "unresolvable"),
        (
            {"Node": {"type": "string", "patternProperties": {}}},
            "unsupported schema keyword 'patternProperties'",
        ),
        ({"Node": {"type": "tuple"}}, "unsupported type"),
        ({"Node": {"pattern": "(unclosed"}}, "does not compile"),
    ],
    ids=["ref loop", "allOf self", "missing ref", "unknown keyword", "unknown type", "bad pattern"],
)
def test_bad_schemas_fail_at_compile_time(components: dict[str, Any], match: str) -> None:
    """Reference loops, unknown keywords and broken patterns are SpecErrors at load, never at request time."""
    with pytest.raises(SpecError, match=match):
        compile_schema({"$ref": "#/components/schemas/Node"}, components)


def test_annotations_and_extensions_are_ignored() -> None:
    """Descriptions, examples, readOnly and x-* keys do not change what validates."""
    schema = {"type": "string", "description": "d", "example": "e", "readOnly": True, "x-bank": 1}
    compile_schema(schema)("x", "v")


def test_long_keys_are_shortened_in_paths() -> None:
    """A client-chosen property name is cut to a bounded length before it appears in a path."""
    with pytest.raises(ValidationProblem) as caught:
        compile_schema({"additionalProperties": False})({"k" * 10_000: 1}, "body")
    assert len(caught.value.path) < 130
