"""The logging setup without a server: JSON lines, request fields, and the PII scrubber on
every string of every record (message, arguments, structured fields and their keys,
exception text), whichever logger wrote it."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
from tests.support.pii_samples import CARD, EMAIL, IBAN, IP, PHONE, RAW, SECRET, SSN

from warden.safety.scrub import scrub_pii
from warden.telemetry.logs import FIELDS, JsonFormatter, TextFormatter, configure_logging
from warden.telemetry.request_log import (
    RequestFacts,
    collecting,
    note_arm,
    note_safety,
    note_usage,
    trace_id_of,
)

SENTENCE = (f"mail {EMAIL}, call {PHONE}, card {CARD}, iban {IBAN}, ssn {SSN}, "
            f"from {IP}, key {SECRET}")


def record(msg: str, *args: object, exc: BaseException | None = None,
           fields: dict[str, object] | None = None, name: str = "warden.test"
           ) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args,
                            (type(exc), exc, exc.__traceback__) if exc else None)
    if fields is not None:
        setattr(rec, FIELDS, fields)
    return rec


def test_scrub_pii_masks_each_kind_and_keeps_ordinary_text() -> None:
    scrubbed = scrub_pii(SENTENCE)
    assert not [value for value in RAW if value in scrubbed]
    for label in ("<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<CREDIT_CARD>", "<IBAN_CODE>",
                  "<US_SSN>", "<IP_ADDRESS>", "<SECRET>"):
        assert label in scrubbed
    for ordinary in ("POST /v1/chat/completions 200 12.5ms", "req_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                     "smollm2-135m-instruct", "loaded model: max_batch=8 n_ctx/seq=2048",
                     "2025-01-31T12:00:00.000Z", "short"):
        assert scrub_pii(ordinary) == ordinary


def test_json_line_scrubs_message_args_fields_keys_and_exceptions() -> None:
    formatter = JsonFormatter(scrub_pii)
    try:
        raise ValueError(f"unknown model '{EMAIL}'")
    except ValueError as exc:
        rec = record("request from %s failed: %s", IP, SECRET, exc=exc, fields={
            "user_agent": f"curl/8.0 ({EMAIL})", f"field {EMAIL}": 1,
            "nested": {"args": [PHONE, {"card": CARD}], "n": 3, "ok": True},
            "iban": IBAN, "ssn": SSN})
    line = formatter.format(rec)
    assert "\n" not in line
    assert not [value for value in RAW if value in line]
    parsed = json.loads(line)
    assert parsed["level"] == "warning" and parsed["logger"] == "warden.test"
    assert parsed["ts"].endswith("Z")
    assert parsed["message"] == "request from <IP_ADDRESS> failed: <SECRET>"
    assert "field <EMAIL_ADDRESS>" in parsed
    assert parsed["nested"] == {"args": ["<PHONE_NUMBER>", {"card": "<CREDIT_CARD>"}],
                                "n": 3, "ok": True}
    assert "ValueError: unknown model '<EMAIL_ADDRESS>'" in parsed["exception"]


def test_text_lines_are_scrubbed_too() -> None:
    line = TextFormatter(scrub_pii).format(record("%s", SENTENCE, fields={"who": EMAIL}))
    assert not [value for value in RAW if value in line]
    assert 'who="<EMAIL_ADDRESS>"' in line


def test_lines_inside_a_request_carry_its_ids_and_notes_collect_the_access_fields() -> None:
    formatter = JsonFormatter(scrub_pii)
    facts = RequestFacts(request_id="req_1", trace_id=trace_id_of(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
    note_usage(1, 1)  # outside a request: nothing to note, and no error
    with collecting(facts):
        inside = json.loads(formatter.format(record("inside")))
        note_usage(12, 5)
        note_safety("input", ("pii",), "redact")
        note_safety("output", ("pii",), "redact")
        note_safety("input", ("pii",), "redact")
        note_arm("support-bot", "challenger")
    outside = json.loads(formatter.format(record("outside")))
    assert inside["request_id"] == "req_1"
    assert inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "request_id" not in outside
    assert facts.fields() == {
        "request_id": "req_1", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "prompt_tokens": 12, "completion_tokens": 5,
        "safety_actions": ["input:pii:redact", "output:pii:redact"],
        "rollout": "support-bot", "arm": "challenger"}


@pytest.mark.parametrize("header", [None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
                                    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"])
def test_a_missing_or_malformed_traceparent_gives_no_trace_id(header: str | None) -> None:
    assert trace_id_of(header) is None


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    handler = configure_logging("json", "info", scrub=scrub_pii, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])
        logging.captureWarnings(False)


def test_every_logger_goes_through_the_one_scrubbing_json_handler(
        configured: io.StringIO) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's config would
    configure_logging("json", "info", scrub=scrub_pii, stream=configured)
    logging.getLogger("warden.api.errors").error("engine error: upstream said %s", EMAIL)
    uvicorn_error.warning("Invalid HTTP request from %s", IP)
    logging.getLogger("httpx").info("HTTP Request: POST http://up/v1?u=%s", PHONE)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated call by {EMAIL}", UserWarning, stacklevel=1)
    logging.getLogger("warden.debug").debug("below the level: %s", EMAIL)
    lines = configured.getvalue().splitlines()
    assert [json.loads(line)["logger"] for line in lines] == [
        "warden.api.errors", "uvicorn.error", "httpx", "py.warnings"]
    assert not [value for value in RAW if value in configured.getvalue()]
    assert uvicorn_error.handlers == [] and uvicorn_error.propagate


def test_json_is_the_default_and_text_a_switch() -> None:
    from warden.config import ConfigError, load_config

    assert load_config(environ={}).telemetry.log_format == "json"
    switched = load_config(environ={"WARDEN_TELEMETRY__LOG_FORMAT": "text"})
    assert switched.telemetry.log_format == "text"
    with pytest.raises(ConfigError):
        load_config(environ={"WARDEN_TELEMETRY__LOG_FORMAT": "xml"})
