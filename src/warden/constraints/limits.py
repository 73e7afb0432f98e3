"""Checks a client's JSON schema before anything compiles it.

Compiling is the expensive, attacker-controlled step, so size, property count, nesting
depth and keywords are checked first, with messages that name the limit and the value.

Depth counts schema levels: the root schema is depth 1, and every subschema under
properties, patternProperties, additionalProperties, items, prefixItems, anyOf, oneOf or
allOf is one deeper. A `$ref` counts as the schema it points to, at the place it is used, so
references cannot hide depth; a reference cycle (a recursive schema) has no depth bound and
is rejected.

Keywords are an allow-list of what the decoder enforces (llguidance 1.9). Anything else is
refused rather than ignored, because an ignored keyword is a constraint the client believes
in and the output does not keep (`uniqueItems`, `not`, `if`, `nullable`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from warden.constraints.base import SchemaRejected

# Keywords whose value is a map of name -> subschema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
# Keywords whose value is one subschema.
_SCHEMA_ONE = frozenset({"additionalProperties", "items"})
# Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
# Keywords that constrain the value itself.
_VALUE_KEYWORDS = frozenset({
    "type", "enum", "const", "required",
    "minProperties", "maxProperties",
    "minItems", "maxItems",
    "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
})
# Annotations: no effect on validity, safe to accept and ignore.
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$comment", "$schema", "deprecated",
    "readOnly", "writeOnly",
})
SUPPORTED_KEYWORDS = (_SCHEMA_MAPS | _SCHEMA_ONE | _SCHEMA_LISTS | _VALUE_KEYWORDS
                      | _ANNOTATIONS | {"$ref"})

# Hints for keywords people commonly try, so the 400 says what to do instead.
_HINTS = {
    "nullable": "use \"type\": [\"<type>\", \"null\"] instead",
    "additionalItems": "use 'prefixItems' with 'items' instead",
    "dependencies": "state the properties in 'required' instead",
}

# Following $refs is recursive; past this many levels we stop and report "more than".
_DEPTH_HARD_CAP = 64

_SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


@dataclass(frozen=True)
class SchemaLimits:
    max_bytes: int = 16 * 1024      # compact JSON, UTF-8
    max_depth: int = 8              # schema levels, root = 1, $refs followed
    max_properties: int = 256       # entries of every properties/patternProperties map

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_properties"):
            if getattr(self, name) < 1:
                raise ValueError(f"SchemaLimits.{name} must be at least 1")


def canonical_json(schema: Any) -> str:
    """Compact JSON: the size that is limited, the text compiled and the cache key.

    Keys keep the client's order on purpose: the decoder emits properties in schema order,
    and that order matters to the client (e.g. "reasoning" before "answer").
    """
    try:
        return json.dumps(schema, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SchemaRejected(f"json_schema is not valid JSON: {exc}") from exc


def check_schema(schema: Any, limits: SchemaLimits | None = None) -> str:
    """Raise SchemaRejected if `schema` breaks a limit or uses an unsupported keyword;
    return its canonical JSON."""
    limits = limits or SchemaLimits()
    if not isinstance(schema, Mapping):
        raise SchemaRejected(f"json_schema must be a JSON object, not {type(schema).__name__}")
    try:
        text = canonical_json(schema)
    except RecursionError as exc:
        raise SchemaRejected(f"json_schema nesting depth is far beyond the limit of "
                             f"{limits.max_depth}", limit="max_depth",
                             maximum=limits.max_depth) from exc
    size = len(text.encode("utf-8"))
    if size > limits.max_bytes:
        raise SchemaRejected(
            f"json_schema size {size} bytes exceeds the limit of {limits.max_bytes} bytes",
            limit="max_bytes", value=size, maximum=limits.max_bytes)
    n_properties = _check_structure(schema)
    if n_properties > limits.max_properties:
        raise SchemaRejected(
            f"json_schema property count {n_properties} exceeds the limit of "
            f"{limits.max_properties}",
            limit="max_properties", value=n_properties, maximum=limits.max_properties)
    depth = _Depth(schema, limits.max_depth).of_root()
    if depth > limits.max_depth:
        shown = f"more than {_DEPTH_HARD_CAP}" if depth > _DEPTH_HARD_CAP else str(depth)
        raise SchemaRejected(
            f"json_schema nesting depth {shown} exceeds the limit of {limits.max_depth}",
            limit="max_depth", value=depth, maximum=limits.max_depth)
    return text


def _pointer(path: tuple[str, ...]) -> str:
    escaped = (p.replace("~", "~0").replace("/", "~1") for p in path)
    return "#" + "".join("/" + p for p in escaped)


def _subschemas(schema: Mapping[str, Any], path: tuple[str, ...]
                ) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """(subschema, path) for every direct subschema, checking the containers' shapes."""
    for key, value in schema.items():
        if key in _SCHEMA_MAPS:
            if not isinstance(value, Mapping):
                raise SchemaRejected(f"json_schema at {_pointer(path)}: '{key}' must be an "
                                     "object of schemas")
            for name, sub in value.items():
                yield sub, (*path, key, str(name))
        elif key in _SCHEMA_ONE:
            if isinstance(value, list):
                raise SchemaRejected(
                    f"json_schema at {_pointer(path)}: '{key}' must be one schema; for a "
                    "tuple use 'prefixItems'")
            yield value, (*path, key)
        elif key in _SCHEMA_LISTS:
            if not isinstance(value, list) or not value:
                raise SchemaRejected(f"json_schema at {_pointer(path)}: '{key}' must be a "
                                     "non-empty array of schemas")
            for i, sub in enumerate(value):
                yield sub, (*path, key, str(i))


def _check_structure(root: Mapping[str, Any]) -> int:
    """Walk every subschema once (iteratively: input depth is not trusted); check keywords
    and reference syntax; return the number of property definitions."""
    n_properties = 0
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        schema, path = stack.pop()
        if isinstance(schema, bool):
            continue  # true / false are valid schemas
        if not isinstance(schema, Mapping):
            raise SchemaRejected(f"json_schema at {_pointer(path)} must be an object or a "
                                 f"boolean, not {type(schema).__name__}")
        for key in schema:
            if key not in SUPPORTED_KEYWORDS:
                hint = _HINTS.get(key)
                raise SchemaRejected(
                    f"json_schema keyword '{key}' at {_pointer(path)} is not supported: it "
                    "could not be enforced while decoding" + (f" ({hint})" if hint else ""))
        _check_values(schema, path)
        for key in ("properties", "patternProperties"):
            if isinstance(schema.get(key), Mapping):
                n_properties += len(schema[key])
        stack.extend(_subschemas(schema, path))
    return n_properties


def _check_values(schema: Mapping[str, Any], path: tuple[str, ...]) -> None:
    ref = schema.get("$ref")
    if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
        raise SchemaRejected(f"json_schema $ref {ref!r} at {_pointer(path)} is not supported: "
                             "only local references ('#/$defs/...') are allowed")
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if not isinstance(k, str) or k not in _SCHEMA_TYPES:
            raise SchemaRejected(f"json_schema at {_pointer(path)}: unknown type {k!r}")
    required = schema.get("required")
    if required is not None and (not isinstance(required, list)
                                 or not all(isinstance(r, str) for r in required)):
        raise SchemaRejected(f"json_schema at {_pointer(path)}: 'required' must be an array "
                             "of property names")
    enum = schema.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum):
        raise SchemaRejected(f"json_schema at {_pointer(path)}: 'enum' must be a non-empty "
                             "array")


class _Depth:
    """Height of the schema tree with $refs expanded, memoised per reference target."""

    def __init__(self, root: Mapping[str, Any], limit: int) -> None:
        self._root = root
        self._cap = max(_DEPTH_HARD_CAP, limit)
        self._done: dict[str, int] = {}
        self._active: set[str] = set()

    def of_root(self) -> int:
        return self._height(self._root, 1)

    def _height(self, schema: Any, level: int) -> int:
        if level > self._cap:
            return level  # deeper than anyone will allow; stop before Python's stack does
        if not isinstance(schema, Mapping):
            return 1
        best = 1
        ref = schema.get("$ref")
        if isinstance(ref, str):
            best = max(best, self._ref_height(ref, level))
        for key, value in schema.items():
            if key in ("$defs", "definitions"):
                continue  # definitions count where they are used, not where they are written
            if key in _SCHEMA_MAPS:
                children = list(value.values())
            elif key in _SCHEMA_ONE:
                children = [value]
            elif key in _SCHEMA_LISTS:
                children = list(value)
            else:
                continue
            for child in children:
                best = max(best, 1 + self._height(child, level + 1))
        return best

    def _ref_height(self, ref: str, level: int) -> int:
        if ref in self._done:
            return self._done[ref]
        if ref in self._active:
            raise SchemaRejected(f"json_schema $ref '{ref}' is recursive; recursive schemas "
                                 "are not supported (their nesting depth has no bound)")
        self._active.add(ref)
        height = self._height(self._resolve(ref), level)
        self._active.discard(ref)
        if height <= self._cap:
            self._done[ref] = height  # a capped value depends on `level`: do not memoise it
        return height

    def _resolve(self, ref: str) -> Any:
        node: Any = self._root
        fragment = ref[1:]
        if fragment and not fragment.startswith("/"):
            raise SchemaRejected(f"json_schema $ref '{ref}' is not supported: use a JSON "
                                 "pointer such as '#/$defs/name'")
        for raw in fragment.split("/")[1:] if fragment else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaRejected(f"json_schema $ref '{ref}' points to nothing")
        return node
