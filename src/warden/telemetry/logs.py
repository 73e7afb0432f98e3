"""The one logging setup of `warden serve`: JSON lines (or text), every string field scrubbed.

`configure_logging` puts a single handler on the root logger; uvicorn's loggers, warnings and
Warden's own all propagate to it. Its formatter builds the record's fields (message,
exception, the `fields` a caller passed with `extra={"fields": {...}}`, and the current
request's id and trace id), passes every string in them (dict keys too) through `scrub`,
and writes one line. Telemetry does not know what PII is: the caller hands in `scrub`
(`warden.safety.scrub.scrub_pii`, the fast pattern detectors).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Literal

from warden.telemetry.request_log import current

Scrub = Callable[[str], str]
FIELDS = "fields"  # the `extra` attribute that carries structured fields


def _keep(text: str) -> str:
    return text


def scrub_value(value: Any, scrub: Scrub) -> Any:
    """`value` with `scrub` applied to every string inside it, dict keys included."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub(str(k)): scrub_value(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_value(v, scrub) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


class _ScrubbingFormatter(logging.Formatter):
    def __init__(self, scrub: Scrub | None = None) -> None:
        super().__init__()
        self.scrub = scrub or _keep

    def record_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        """Everything from the record that may hold outside input, already scrubbed."""
        out: dict[str, Any] = {"message": record.getMessage()}
        facts = current()
        if facts is not None:
            out["request_id"], out["trace_id"] = facts.request_id, facts.trace_id
        extra = getattr(record, FIELDS, None)
        if isinstance(extra, Mapping):
            out.update(extra)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        scrubbed: dict[str, Any] = scrub_value(out, self.scrub)
        return scrubbed


class JsonFormatter(_ScrubbingFormatter):
    """One JSON object per line: ts, level, logger, then the scrubbed record fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line = {"ts": ts.replace("+00:00", "Z"), "level": record.levelname.lower(),
                "logger": record.name, **self.record_fields(record)}
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(_ScrubbingFormatter):
    """`time LEVEL logger: message key=value ...`, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = self.record_fields(record)
        message = fields.pop("message")
        exception = fields.pop("exception", None)
        stack = fields.pop("stack", None)
        extras = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                          for k, v in fields.items() if v not in (None, [], ""))
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {message}"
        if extras:
            line += f"  {extras}"
        for block in (exception, stack):
            if block:
                line += "\n" + block
        return line


def make_formatter(log_format: Literal["json", "text"], scrub: Scrub | None
                   ) -> logging.Formatter:
    return JsonFormatter(scrub) if log_format == "json" else TextFormatter(scrub)


def configure_logging(log_format: Literal["json", "text"], level: str, *, scrub: Scrub | None,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger through one scrubbing handler on the root logger (replacing any
    handler there); returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(log_format, scrub))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log on their own handlers would bypass the scrubber: route them here.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    logging.captureWarnings(True)
    return handler
