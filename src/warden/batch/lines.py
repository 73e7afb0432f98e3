"""Input and output lines of a batch file, in OpenAI's format. Pure: no I/O.

In:  {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
Out: {"id": "batch_req_...", "custom_id": "...", "response": {"status_code", "request_id",
      "body"}, "error": null}, or with "response": null and "error": {"code", "message"} when
      the line never became a request (not JSON, no custom_id, wrong url...).

A line that cannot run still gets an output line saying why: nothing is dropped. Only what
makes the whole file unusable (not UTF-8, no lines, too many, repeated custom_ids, which
would make results ambiguous) fails the batch at validation, as OpenAI does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

ENDPOINTS = ("/v1/chat/completions", "/v1/completions")
MAX_CUSTOM_ID = 512


@dataclass(frozen=True)
class LineProblem:
    code: str
    message: str


@dataclass(frozen=True)
class InputLine:
    line_no: int                      # 1-based, as an editor shows it
    custom_id: str | None
    body: dict[str, Any] | None
    problem: LineProblem | None = None

    @property
    def model(self) -> str | None:
        model = (self.body or {}).get("model")
        return model if isinstance(model, str) else None


class InputFileInvalid(Exception):
    """The file as a whole cannot be a batch; `errors` are OpenAI BatchError dicts."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e["message"]) for e in errors[:3]))
        self.errors = errors


def _problem(line_no: int, custom_id: str | None, code: str, message: str) -> InputLine:
    return InputLine(line_no, custom_id, None, LineProblem(code, message))


def parse_line(line_no: int, text: str, endpoint: str) -> InputLine:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as exc:
        return _problem(line_no, None, "invalid_json_line",
                        f"line {line_no} is not valid JSON ({exc.msg} at column {exc.colno}); "
                        "each line must be one JSON object")
    if not isinstance(item, dict):
        return _problem(line_no, None, "invalid_line", f"line {line_no} must be a JSON "
                        "object with custom_id, method, url and body")
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        return _problem(line_no, None, "missing_custom_id", f"line {line_no} needs a "
                        f"custom_id: a non-empty string of at most {MAX_CUSTOM_ID} characters")
    found = _envelope_problem(item, endpoint)
    if found is not None:
        return _problem(line_no, custom_id, *found)
    return InputLine(line_no, custom_id, item["body"])


def _envelope_problem(item: dict[str, Any], endpoint: str) -> tuple[str, str] | None:
    """(code, message) of what is wrong around the body, or None."""
    unknown = sorted(set(item) - {"custom_id", "method", "url", "body"})
    if unknown:
        return "invalid_line", (f"unknown field(s) {unknown}; a line has only custom_id, "
                                "method, url and body")
    if item.get("method") != "POST":
        return "invalid_method", f"method must be \"POST\", got {item.get('method')!r}"
    if item.get("url") != endpoint:
        return "mismatched_url", (f"url {item.get('url')!r} does not match the batch's "
                                  f"endpoint {endpoint!r}; one batch runs one endpoint")
    if not isinstance(item.get("body"), dict):
        return "invalid_body", ("body must be a JSON object: the request you would send to "
                                "the endpoint")
    return None


def parse_input(data: bytes, endpoint: str, max_lines: int) -> list[InputLine]:
    """Every non-blank line of the file, parsed; raises InputFileInvalid for file problems."""
    if endpoint not in ENDPOINTS:
        raise InputFileInvalid([{"code": "invalid_endpoint", "line": None, "param": "endpoint",
                                 "message": f"endpoint must be one of {list(ENDPOINTS)}"}])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileInvalid([{"code": "invalid_file", "line": None, "param": None,
                                 "message": f"the file is not UTF-8 text (byte {exc.start})"}]
                               ) from exc
    lines = [parse_line(n, raw, endpoint)
             for n, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    if not lines:
        raise InputFileInvalid([{"code": "empty_file", "line": None, "param": None,
                                 "message": "the file has no request lines"}])
    if len(lines) > max_lines:
        raise InputFileInvalid([{"code": "too_many_lines", "line": None, "param": None,
                                 "message": f"{len(lines)} request lines; at most {max_lines} "
                                            "(batch.max_lines): split the file"}])
    first_seen: dict[str, int] = {}
    repeated: list[dict[str, Any]] = []
    for line in lines:
        if line.custom_id is None:
            continue
        if line.custom_id in first_seen:
            repeated.append({"code": "duplicate_custom_id", "line": line.line_no,
                             "param": "custom_id",
                             "message": f"custom_id {line.custom_id!r} on line {line.line_no} "
                                        f"repeats line {first_seen[line.custom_id]}; each "
                                        "line needs its own"})
        else:
            first_seen[line.custom_id] = line.line_no
    if repeated:
        raise InputFileInvalid(repeated[:100])
    return lines


# output -------------------------------------------------------------------------------------
def line_id(batch_id: str, line_no: int) -> str:
    """The same id for the same line however often it is (re)run: answers are idempotent."""
    return "batch_req_" + hashlib.sha256(f"{batch_id}:{line_no}".encode()).hexdigest()[:24]


def line_request_id(batch_id: str, line_no: int) -> str:
    return "req_" + line_id(batch_id, line_no).removeprefix("batch_req_")


def response_line(batch_id: str, line: InputLine, status_code: int,
                  body: dict[str, Any]) -> dict[str, Any]:
    return {"id": line_id(batch_id, line.line_no), "custom_id": line.custom_id,
            "response": {"status_code": status_code,
                         "request_id": line_request_id(batch_id, line.line_no), "body": body},
            "error": None}


def error_line(batch_id: str, line: InputLine, code: str, message: str) -> dict[str, Any]:
    return {"id": line_id(batch_id, line.line_no), "custom_id": line.custom_id,
            "response": None, "error": {"code": code, "message": message}}


def dump(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


# retrying ---------------------------------------------------------------------------------
# Waits for a limit to reset: the line is not at fault and will run, so no attempt is spent.
PACING_CODES = frozenset({"rate_limit_requests", "rate_limit_tokens", "rate_limit_concurrency",
                          "queue_full"})
# Failures that may pass: retried up to batch.max_attempts, then the error line is written.
TRANSIENT_CODES = frozenset({"timeout", "upstream_unavailable", "upstream_timeout",
                             "limiter_unavailable"})


def retry_kind(status_code: int | None, code: str | None) -> str | None:
    """"pacing", "transient" or None (final: the answer goes into the output)."""
    if code in PACING_CODES:
        return "pacing"
    if code in TRANSIENT_CODES or status_code in (502, 503, 504):
        return "transient"
    return None


def backoff_s(kind: str, attempt: int, retry_after_s: float | None) -> float:
    if kind == "pacing":
        return float(max(0.5, min(60.0, retry_after_s or 1.0)))
    return min(30.0, 0.5 * 2.0 ** attempt)
