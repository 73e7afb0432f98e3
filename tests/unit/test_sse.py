import json

from warden.api import sse
from warden.api.errors import APIError


def parse(frame: bytes) -> dict:
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    assert frame.count(b"\n") == 2  # exactly one data line per event
    return json.loads(frame[len(b"data: "):-2])


def test_event_framing_escapes_newlines() -> None:
    payload = {"text": "line1\nline2\n\ndata: fake"}
    assert parse(sse.event(payload)) == payload


def test_chat_chunk_shape() -> None:
    chunk = sse.chat_chunk(chunk_id="c", created=1, model="m", delta={"content": "x"},
                           finish_reason=None)
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"][0] == {"index": 0, "delta": {"content": "x"}, "logprobs": None,
                                   "finish_reason": None}
    assert "usage" not in chunk
    with_usage = sse.chat_chunk(chunk_id="c", created=1, model="m", delta={},
                                finish_reason="stop", include_usage_field=True)
    assert with_usage["usage"] is None


def test_usage_chunk_has_no_choices() -> None:
    chunk = sse.usage_chunk(chunk_id="c", created=1, model="m", object_="chat.completion.chunk",
                            usage={"total_tokens": 3})
    assert chunk["choices"] == [] and chunk["usage"] == {"total_tokens": 3}


def test_done_and_error_frames() -> None:
    assert sse.DONE == b"data: [DONE]\n\n"
    err = parse(sse.error_event(APIError(504, "boom", code="timeout")))
    assert err == {"error": {"message": "boom", "type": "timeout_error", "param": None,
                             "code": "timeout"}}
