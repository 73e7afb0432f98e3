"""The rule for redacted schema output: the redacted document must still validate."""

from __future__ import annotations

from warden.api.pipeline.schema_output import still_valid

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                           "email": {"type": "string", "pattern": "@"}},
          "required": ["name"]}


def test_a_redaction_that_keeps_the_schema_is_kept() -> None:
    assert still_valid('{"name": "<PERSON_1>"}', SCHEMA)


def test_a_redaction_that_breaks_the_schema_is_caught() -> None:
    assert not still_valid('{"name": "Ada <PERSON_1>"}', SCHEMA)          # maxLength
    assert not still_valid('{"name": "x", "email": "<EMAIL_1>"}', SCHEMA)  # pattern
    assert not still_valid('{"name": "x"', SCHEMA)                         # cut short
