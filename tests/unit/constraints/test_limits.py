"""Schema limits and keyword checks: exact messages, before anything compiles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from warden.constraints import SchemaLimits, SchemaRejected, check_schema


def nested_objects(levels: int) -> dict[str, Any]:
    """An object schema `levels` schema levels deep (root = 1)."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels - 1):
        schema = {"type": "object", "properties": {"child": schema}, "required": ["child"]}
    return schema


def rejected(schema: Any, limits: SchemaLimits | None = None) -> SchemaRejected:
    with pytest.raises(SchemaRejected) as info:
        check_schema(schema, limits)
    return info.value


def test_size_limit_names_the_limit_and_the_size() -> None:
    schema = {"type": "string", "description": "x" * 20_000}
    size = len(json.dumps(schema, separators=(",", ":")).encode())
    error = rejected(schema)
    assert str(error) == f"json_schema size {size} bytes exceeds the limit of 16384 bytes"
    assert (error.limit, error.value, error.maximum) == ("max_bytes", size, 16384)


def test_size_counts_utf8_bytes_and_is_configurable() -> None:
    schema = {"type": "string", "description": "é" * 60}  # 120 bytes of text, 60 characters
    size = len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode())
    assert str(rejected(schema, SchemaLimits(max_bytes=150))) == (
        f"json_schema size {size} bytes exceeds the limit of 150 bytes")
    check_schema(schema, SchemaLimits(max_bytes=size))


def test_depth_limit_exact_message() -> None:
    error = rejected(nested_objects(12))
    assert str(error) == "json_schema nesting depth 12 exceeds the limit of 8"
    assert (error.limit, error.value, error.maximum) == ("max_depth", 12, 8)


def test_depth_at_the_limit_passes_and_limit_is_configurable() -> None:
    check_schema(nested_objects(8))
    assert str(rejected(nested_objects(4), SchemaLimits(max_depth=3))) == (
        "json_schema nesting depth 4 exceeds the limit of 3")


def test_depth_follows_refs_where_they_are_used() -> None:
    # Each definition alone is shallow; used through each other they nest 10 levels.
    defs: dict[str, Any] = {"d0": {"type": "string"}}
    for i in range(1, 10):
        defs[f"d{i}"] = {"type": "object", "properties": {"x": {"$ref": f"#/$defs/d{i - 1}"}}}
    schema = {"$defs": defs, "$ref": "#/$defs/d9"}
    assert str(rejected(schema)) == "json_schema nesting depth 10 exceeds the limit of 8"


def test_depth_counts_array_items_and_combinators() -> None:
    schema = {"type": "array", "items": {"anyOf": [{"type": "array", "items": nested_objects(6)},
                                                   {"type": "null"}]}}
    # root 1, items 2, anyOf branch 3, items 4, then 6 levels of objects: 9
    assert str(rejected(schema)) == "json_schema nesting depth 9 exceeds the limit of 8"


def test_absurdly_deep_schema_is_rejected_without_recursion_error() -> None:
    schema: Any = {"type": "string"}
    for _ in range(900):
        schema = {"items": schema}
    error = rejected(schema)
    assert str(error) == "json_schema nesting depth more than 64 exceeds the limit of 8"
    deeper: Any = {"type": "string"}
    for _ in range(5000):
        deeper = {"items": deeper}
    assert str(rejected(deeper)).startswith("json_schema nesting depth is far beyond the limit")


def test_recursive_ref_is_rejected() -> None:
    schema = {"$defs": {"node": {"type": "object",
                                 "properties": {"next": {"$ref": "#/$defs/node"}}}},
              "$ref": "#/$defs/node"}
    assert str(rejected(schema)) == (
        "json_schema $ref '#/$defs/node' is recursive; recursive schemas are not supported "
        "(their nesting depth has no bound)")
    root_cycle = {"type": "object", "properties": {"self": {"$ref": "#"}}}
    assert "recursive" in str(rejected(root_cycle))


def test_shared_ref_used_many_times_is_fine() -> None:
    schema = {"$defs": {"s": {"type": "string", "maxLength": 5}}, "type": "object",
              "properties": {f"p{i}": {"$ref": "#/$defs/s"} for i in range(50)}}
    check_schema(schema)


def test_property_count_limit() -> None:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(300)}}
    error = rejected(schema)
    assert str(error) == "json_schema property count 300 exceeds the limit of 256"
    assert (error.limit, error.value) == ("max_properties", 300)


def test_property_count_adds_up_nested_objects_and_defs() -> None:
    inner = {"type": "object", "properties": {f"i{i}": {"type": "integer"} for i in range(150)}}
    schema = {"type": "object", "$defs": {"d": inner},
              "properties": {"a": inner, "b": {"$ref": "#/$defs/d"}}}
    assert str(rejected(schema)) == "json_schema property count 302 exceeds the limit of 256"


@pytest.mark.parametrize(("keyword", "value"), [
    ("uniqueItems", True),
    ("contains", {"type": "string"}),
    ("not", {"type": "null"}),
    ("if", {"type": "string"}),
    ("propertyNames", {"pattern": "^a"}),
    ("dependentRequired", {"a": ["b"]}),
    ("unevaluatedProperties", False),
    ("x-guidance", {"lenient": True}),
    ("$id", "https://example.com/s.json"),
    ("contentEncoding", "base64"),
])
def test_unsupported_keyword_is_rejected_with_its_location(keyword: str, value: Any) -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", keyword: value}}}
    assert str(rejected(schema)) == (
        f"json_schema keyword '{keyword}' at #/properties/tags is not supported: it could "
        "not be enforced while decoding")


def test_unsupported_keyword_hint() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}}
    assert str(rejected(schema)) == (
        "json_schema keyword 'nullable' at #/properties/a is not supported: it could not be "
        "enforced while decoding (use \"type\": [\"<type>\", \"null\"] instead)")


@pytest.mark.parametrize(("schema", "message"), [
    ({"$ref": "https://example.com/s.json"},
     "json_schema $ref 'https://example.com/s.json' at # is not supported: only local "
     "references ('#/$defs/...') are allowed"),
    ({"$ref": "#/$defs/missing"}, "json_schema $ref '#/$defs/missing' points to nothing"),
    ({"type": "array", "items": [{"type": "string"}]},
     "json_schema at #: 'items' must be one schema; for a tuple use 'prefixItems'"),
    ({"type": "decimal"}, "json_schema at #: unknown type 'decimal'"),
    ({"type": "object", "properties": {"a": 5}},
     "json_schema at #/properties/a must be an object or a boolean, not int"),
    ({"anyOf": []}, "json_schema at #: 'anyOf' must be a non-empty array of schemas"),
    ({"enum": []}, "json_schema at #: 'enum' must be a non-empty array"),
    ({"required": "a"}, "json_schema at #: 'required' must be an array of property names"),
])
def test_malformed_schemas(schema: Any, message: str) -> None:
    assert str(rejected(schema)) == message


@pytest.mark.parametrize("schema", [["type", "object"], "object", True, None])
def test_root_must_be_an_object(schema: Any) -> None:
    assert str(rejected(schema)).startswith("json_schema must be a JSON object")


def test_not_json_is_rejected() -> None:
    assert str(rejected({"type": "number", "maximum": float("nan")})).startswith(
        "json_schema is not valid JSON")


def test_supported_schema_passes_and_keeps_key_order() -> None:
    schema = {
        "title": "Person", "type": "object", "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
            "color": {"enum": ["red", "green", "blue"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "point": {"type": "array", "prefixItems": [{"type": "number"}] * 2},
            "email": {"type": ["string", "null"], "format": "email"},
            "kind": {"anyOf": [{"const": "a"}, {"type": "integer", "multipleOf": 2}]},
        },
        "required": ["name", "age"],
    }
    text = check_schema(schema)
    assert list(json.loads(text)["properties"]) == list(schema["properties"])


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        SchemaLimits(max_depth=0)
