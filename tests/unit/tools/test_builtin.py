"""The built-in tools: a safe calculator and a notes file that honours dry runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.safety.tools.builtin import NOTES_FILE, calculator, evaluate, notes_append
from warden.safety.tools.executor import ToolContext, ToolError


def ctx(data_dir: Path, dry_run: bool = False) -> ToolContext:
    return ToolContext(dry_run=dry_run, data_dir=data_dir, key_id="k1", request_id="req_1")


@pytest.mark.parametrize(("expression", "value"), [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 / 2", 3.5), ("7 // 2", 3), ("7 % 4", 3),
    ("-2 ** 3", -8), ("2 ** 10", 1024), ("0.1 + 0.2", 0.1 + 0.2),
])
def test_arithmetic(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize(("expression", "reason"), [
    ("__import__('os').system('id')", "not allowed"), ("a + 1", "not allowed"),
    ("1 / 0", "division by zero"), ("9 ** 9 ** 9", "exponents"), ("1 +", "not an arithmetic"),
    ("'a' * 3", "not allowed"), ("(-8) ** 0.5", "not a real number"),
    ("1" * 201, "longer than"),
])
def test_refuses_what_is_not_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        evaluate(expression)


def test_calculator_tool(data_dir: Path) -> None:
    assert calculator({"expression": "6 * 7"}, ctx(data_dir)) == {"expression": "6 * 7",
                                                                    "value": 42}


def test_notes_dry_run_writes_nothing(data_dir: Path) -> None:
    result = notes_append({"title": "t", "text": "x"}, ctx(data_dir, dry_run=True))
    assert result == {"would_append": {"title": "t", "text": "x"}, "file": NOTES_FILE}
    assert not (data_dir / NOTES_FILE).exists()
    # Deterministic: the same dry run hashes the same (the token binds it).
    assert notes_append({"title": "t", "text": "x"}, ctx(data_dir, dry_run=True)) == result


def test_notes_real_run_appends(data_dir: Path) -> None:
    first = notes_append({"title": "a", "text": "one"}, ctx(data_dir))
    second = notes_append({"title": "b", "text": "two"}, ctx(data_dir))
    assert (first["line"], second["line"]) == (1, 2)
    lines = [json.loads(x) for x in (data_dir / NOTES_FILE).read_text().splitlines()]
    assert [(n["title"], n["text"]) for n in lines] == [("a", "one"), ("b", "two")]
    assert lines[0]["key_id"] == "k1"
