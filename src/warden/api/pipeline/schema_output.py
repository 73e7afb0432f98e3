"""The rule for schema-constrained output that the output guard redacts.

Decoding under a JSON schema guarantees a valid document; redacting PII afterwards can break
that guarantee (a `maxLength`, a `pattern` or an `enum` no longer holds for `<EMAIL_1>`).
Warden's rule: a schema-constrained answer is held until it is complete; if the guard
redacted anything, the redacted document is validated against the schema again; if it no
longer validates, the answer ends with `finish_reason: "content_filter"` and carries no
document. So every answer that finishes with `stop` validates against its schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator


def still_valid(document: str, schema: Mapping[str, Any]) -> bool:
    """True when `document` (redacted output) is JSON that still satisfies `schema`."""
    try:
        value = json.loads(document)
    except ValueError:
        return False
    return Draft202012Validator(dict(schema)).is_valid(value)
