"""Two built-in tools for demos and tests. Register them under `tools:` in warden.yaml
(docs/tools.md has the exact entries, with BUILTIN_PARAMETERS as their schemas).

calculator    read-only: evaluates arithmetic with the ast module (no eval, no names, no
              calls; bounded size and exponents, so it cannot be made to burn CPU).
notes_append  mutating: appends a note as one JSON line to <data_dir>/notes/notes.jsonl.
              In a dry run it returns what it would append and writes nothing.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from warden.safety.tools.executor import ToolContext, ToolError

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 64
MAX_MAGNITUDE = 1e300

BUILTIN_PARAMETERS: dict[str, dict[str, Any]] = {
    "calculator": {
        "type": "object",
        "properties": {"expression": {"type": "string", "minLength": 1,
                                      "maxLength": MAX_EXPRESSION_CHARS,
                                      "pattern": r"^[0-9+\-*/%(). ]+$",
                                      "description": "Arithmetic, e.g. (2 + 3) * 4 / 5"}},
        "required": ["expression"], "additionalProperties": False,
    },
    "notes_append": {
        "type": "object",
        "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 100},
                       "text": {"type": "string", "minLength": 1, "maxLength": 2000}},
        "required": ["title", "text"], "additionalProperties": False,
    },
}

# float covers int here (numeric promotion); a negative base to a fractional power is complex.
_BINARY: dict[type[ast.operator], Callable[[float, float], float | complex]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg,
}


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression; ToolError saying why if it has none."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"not an arithmetic expression ({exc.msg})") from None
    value = _eval(tree.body)
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    return value


def _eval(node: ast.AST) -> int | float:
    if (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)):  # True is an int, but not a number here
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolError(f"exponents above {MAX_EXPONENT} are not allowed")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("the result is too large") from None
        if isinstance(value, complex):
            raise ToolError("the result is not a real number")
        if abs(value) > MAX_MAGNITUDE:
            raise ToolError("the result is too large")
        return value
    raise ToolError(f"'{type(node).__name__}' is not allowed: only numbers, + - * / // % ** "
                    "and parentheses")


def calculator(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    expression = str(arguments["expression"])
    return {"expression": expression, "value": evaluate(expression)}


_notes_lock = threading.Lock()
NOTES_FILE = "notes/notes.jsonl"


def notes_append(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    note = {"title": str(arguments["title"]), "text": str(arguments["text"])}
    if context.dry_run:
        # Deterministic on purpose: the dry-run result is hashed into the confirmation token.
        return {"would_append": note, "file": NOTES_FILE}
    path = context.data_dir / NOTES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**note, "ts": datetime.now(UTC).isoformat(), "key_id": context.key_id,
              "request_id": context.request_id}
    with _notes_lock, path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        line = sum(1 for _ in path.open(encoding="utf-8"))
    return {"appended": note, "file": NOTES_FILE, "line": line}
