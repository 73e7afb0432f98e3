"""Metadata filters for search: {key: value} or {key: [any, of, these]}. Pure.

`source` and `doc_id` address the chunk's own fields; every other key reads its metadata.
A metadata value that is a list matches when it shares an element with the wanted values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Filters = Mapping[str, Any]


def _wanted(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else [value]


def matches(filters: Filters | None, *, source: str, doc_id: str,
            meta: Mapping[str, Any]) -> bool:
    if not filters:
        return True
    for key, value in filters.items():
        wanted = _wanted(value)
        if key == "source":
            have: list[Any] = [source]
        elif key == "doc_id":
            have = [doc_id]
        elif key in meta:
            have = _wanted(meta[key])
        else:
            return False
        if not any(h == w for h in have for w in wanted):
            return False
    return True


def parse_filters(pairs: list[str]) -> dict[str, Any]:
    """CLI `key=value` pairs; a value is read as JSON when it parses (numbers, lists)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"filter '{pair}' must look like key=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        key = key.strip()
        if key in out:  # repeating a key widens it: tag=a tag=b means a or b
            out[key] = [*_wanted(out[key]), *_wanted(value)]
        else:
            out[key] = value
    return out
