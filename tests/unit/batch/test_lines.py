"""Batch input and output lines: what runs, what becomes an error line, what fails a file."""

from __future__ import annotations

import json

import pytest

from warden.batch.lines import (
    InputFileInvalid,
    backoff_s,
    error_line,
    line_id,
    parse_input,
    response_line,
    retry_kind,
)

CHAT = "/v1/chat/completions"


def request(custom_id: str, **overrides: object) -> str:
    line: dict[str, object] = {"custom_id": custom_id, "method": "POST", "url": CHAT,
            "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}
    line.update(overrides)
    return json.dumps(line)


def test_good_lines_run_and_bad_lines_become_problems_with_their_reason() -> None:
    data = "\n".join([
        request("ok"),
        "",                                   # blank lines are skipped, numbering kept
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"method": "POST", "url": CHAT, "body": {}}),
        request("get", method="GET"),
        request("elsewhere", url="/v1/completions"),
        request("nobody", body="text"),
        request("extra", stream=True),
    ]).encode()
    lines = parse_input(data, CHAT, max_lines=100)
    assert [line.line_no for line in lines] == [1, 3, 4, 5, 6, 7, 8, 9]
    ok = lines[0]
    assert ok.problem is None and ok.custom_id == "ok" and ok.model == "m"
    codes = {line.line_no: line.problem.code for line in lines[1:] if line.problem}
    assert codes == {3: "invalid_json_line", 4: "invalid_line", 5: "missing_custom_id",
                     6: "invalid_method", 7: "mismatched_url", 8: "invalid_body",
                     9: "invalid_line"}
    assert "line 3 is not valid JSON" in lines[1].problem.message  # type: ignore[union-attr]
    assert lines[6].custom_id == "nobody"  # a known custom_id is kept on its error line


@pytest.mark.parametrize(("data", "code"), [
    (b"\xff\xfe not utf-8", "invalid_file"),
    (b"\n  \n", "empty_file"),
    ("\n".join([request("a"), request("b"), request("a")]).encode(), "duplicate_custom_id"),
    ("\n".join(request(str(i)) for i in range(4)).encode(), "too_many_lines"),
])
def test_a_file_that_cannot_be_a_batch_fails_validation(data: bytes, code: str) -> None:
    with pytest.raises(InputFileInvalid) as failed:
        parse_input(data, CHAT, max_lines=3)
    assert failed.value.errors[0]["code"] == code
    if code == "duplicate_custom_id":
        assert failed.value.errors[0]["line"] == 3 and "repeats line 1" in str(failed.value)


def test_output_lines_have_openai_shapes_and_stable_ids() -> None:
    line = parse_input(request("x").encode(), CHAT, 10)[0]
    answer = response_line("batch_1", line, 200, {"object": "chat.completion"})
    assert answer["id"] == line_id("batch_1", 1) == line_id("batch_1", 1)
    assert answer["id"] != line_id("batch_1", 2) != line_id("batch_2", 1)
    assert answer["custom_id"] == "x" and answer["error"] is None
    assert answer["response"]["status_code"] == 200
    assert answer["response"]["request_id"].startswith("req_")
    failed = error_line("batch_1", line, "batch_expired", "too late")
    assert failed["response"] is None and failed["error"] == {"code": "batch_expired",
                                                              "message": "too late"}


def test_which_failures_are_retried() -> None:
    assert retry_kind(429, "rate_limit_requests") == "pacing"
    assert retry_kind(503, "queue_full") == "pacing"
    assert retry_kind(504, "timeout") == "transient"
    assert retry_kind(502, "upstream_unavailable") == "transient"
    assert retry_kind(429, "rate_limit_tokens_per_day") is None  # the day's budget is spent
    assert retry_kind(400, "content_filter") is None
    assert retry_kind(400, "request_too_large") is None
    assert retry_kind(200, None) is None
    assert backoff_s("pacing", 1, 7.0) == 7.0
    assert backoff_s("transient", 1, None) < backoff_s("transient", 4, None) <= 30
