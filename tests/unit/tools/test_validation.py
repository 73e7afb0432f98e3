"""Schema conformance of tool calls: problems are named by path and keyword, never value."""

from __future__ import annotations

from warden.constraints.tool_schema import call_envelope
from warden.safety.tools.builtin import BUILTIN_PARAMETERS
from warden.safety.tools.validation import CallValidator

NOTES = CallValidator(BUILTIN_PARAMETERS["notes_append"])


def test_valid_call_has_no_problems() -> None:
    assert NOTES.problems({"title": "t", "text": "x"}) == []
    assert NOTES.is_valid({"title": "t", "text": "x"})


def test_missing_property_points_at_it() -> None:
    problems = NOTES.problems({"title": "t"})
    assert [(p.path, p.keyword) for p in problems] == [("/text", "required")]


def test_problems_never_quote_the_value() -> None:
    secret = "jane.doe@example.com 4111 1111 1111 1111"
    problems = NOTES.problems({"title": 42, "text": secret, "extra": secret})
    keywords = {p.keyword for p in problems}
    assert {"type", "additionalProperties"} <= keywords
    rendered = repr([p.as_dict() for p in problems]) + " ".join(p.describe() for p in problems)
    assert "jane" not in rendered and "4111" not in rendered


def test_not_an_object() -> None:
    assert [p.keyword for p in NOTES.problems(["title"])] == ["type"]


def test_pattern_and_length() -> None:
    calc = CallValidator(BUILTIN_PARAMETERS["calculator"])
    assert calc.problems({"expression": "1+2"}) == []
    assert [p.keyword for p in calc.problems({"expression": "__import__('os')"})] == ["pattern"]
    assert "minLength" in [p.keyword for p in calc.problems({"expression": ""})]


def test_envelope_fixes_the_name() -> None:
    envelope = CallValidator(call_envelope("calculator", BUILTIN_PARAMETERS["calculator"]))
    assert envelope.is_valid({"name": "calculator", "arguments": {"expression": "1"}})
    assert not envelope.is_valid({"name": "other", "arguments": {"expression": "1"}})
    assert not envelope.is_valid({"name": "calculator", "arguments": {"expression": "1"},
                                  "x": 1})


def test_an_undeclared_argument_is_named() -> None:
    validator = CallValidator({"type": "object", "properties": {"a": {"type": "string"}},
                               "additionalProperties": False})
    problems = validator.problems({"a": "x", "shell": "id"})
    assert [p.as_dict() for p in problems] == [{"path": "/shell",
                                                "keyword": "additionalProperties"}]


def test_an_undeclared_argument_named_by_personal_data_is_masked_for_the_audit_log() -> None:
    validator = CallValidator({"type": "object", "properties": {"a": {"type": "string"}},
                               "additionalProperties": False})
    [problem] = validator.problems({"a": "x", "marisol.quintero@fastmail.com": "id"})
    assert problem.path == "/marisol.quintero@fastmail.com"  # the caller's error names it
    assert problem.as_dict() == {"path": "/<EMAIL_ADDRESS>", "keyword": "additionalProperties"}
