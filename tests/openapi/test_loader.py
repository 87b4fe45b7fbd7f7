"""The loader: references, parameter merging, ignored headers and bad documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.openapi import SHIPPED_SPEC, Spec, SpecError

from .factories import spec_of

PARAM = {"name": "X-Request-ID", "in": "header", "required": True, "schema": {"type": "string"}}


def spec_with(operation: dict[str, Any], **components: Any) -> Spec:
    document = {
        "openapi": "3.0.1",
        "paths": {
            "/v1/things/{id}": {"parameters": [{"name": "id", "in": "path", "schema": {}}], "get": operation}
        },
        "components": components,
    }
    return Spec(document)


def test_refs_are_resolved_for_parameters_and_body() -> None:
    """Parameter and request body references are followed; the path-level parameter is merged in."""
    spec = spec_with(
        {
            "parameters": [{"$ref": "#/components/parameters/rid"}],
            "requestBody": {"$ref": "#/components/requestBodies/b"},
        },
        parameters={"rid": PARAM},
        requestBodies={
            "b": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        },
    )
    op = spec.operation("GET", "/v1/things/{id}")
    assert [(p.location, p.name, p.required) for p in op.parameters] == [
        ("path", "id", True),
        ("header", "X-Request-ID", True),
    ]
    assert (op.body_required, op.body_schema, op.body_media_types) == (
        True,
        {"type": "object"},
        {"application/json"},
    )


def test_operation_parameter_overrides_path_level_one() -> None:
    """An operation's own parameter replaces a path-level one with the same name and location."""
    spec = spec_with(
        {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]}
    )
    (param,) = spec.operation("GET", "/v1/things/{id}").parameters
    assert param.schema == {"type": "integer"}


def test_authorization_accept_content_type_headers_are_ignored() -> None:
    """OpenAPI 3.0.1: header parameters named Accept, Content-Type or Authorization SHALL be ignored."""
    headers = [
        {"name": n, "in": "header", "required": True, "schema": {}}
        for n in ("Authorization", "accept", "Content-Type")
    ]
    op = spec_with({"parameters": headers}).operation("GET", "/v1/things/{id}")
    assert [p.name for p in op.parameters] == ["id"]


def test_reference_cycle_is_a_spec_error() -> None:
    """A parameter reference chain that loops is refused with the chain in the message."""
    spec = spec_with(
        {"parameters": [{"$ref": "#/components/parameters/a"}]},
        parameters={"a": {"$ref": "#/components/parameters/b"}, "b": {"$ref": "#/components/parameters/a"}},
    )
    with pytest.raises(SpecError, match=r"reference cycle #/components/parameters/a -> .*b -> .*a"):
        spec.operation("GET", "/v1/things/{id}")


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("other.yaml#/x", "only local references"),
        ("#/components/nothing", "unresolvable"),
        ("#/paths/~1v1~1things~1{id}/get", ""),
    ],
)
def test_lookup(ref: str, match: str) -> None:
    """Local JSON pointers resolve (with ~1 for '/'); remote and missing ones are SpecErrors."""
    spec = spec_with({"operationId": "getThing"})
    if not match:
        assert spec.lookup(ref) == {"operationId": "getThing"}
        return
    with pytest.raises(SpecError, match=match):
        spec.lookup(ref)


def test_find_by_operation_id() -> None:
    """operationId lookup gives method and path; an unknown id is a SpecError."""
    spec = spec_with({"operationId": "getThing"})
    assert spec.find("getThing") == ("GET", "/v1/things/{id}")
    with pytest.raises(SpecError, match="no operation with operationId"):
        spec.find("nope")


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    """A missing file, a YAML error and a document without paths are SpecErrors naming the file."""
    with pytest.raises(SpecError, match="cannot read"):
        Spec.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("a: [", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        Spec.load(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("openapi: 3.0.1\n", encoding="utf-8")
    with pytest.raises(SpecError, match="no 'paths'"):
        Spec.load(tmp_path / "empty.yaml")


def test_shipped_spec_lists_every_operation() -> None:
    """The shipped 1.3.11 file defines 38 operations, createConsent among them."""
    spec = Spec.load(SHIPPED_SPEC)
    assert len(list(spec.operations())) == 38
    assert spec.find("createConsent") == ("POST", "/v1/consents")
    assert spec_of().document["paths"] == {}
