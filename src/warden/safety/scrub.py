"""PII scrubbing for telemetry: the fast pattern detectors only (regex + checksum, no NER),
cheap enough for every string field of every log line.

`scrub_pii("write to jane.roe@gmail.com")` -> "write to <EMAIL_ADDRESS>". Each finding is
replaced by its label; nothing maps back to the value (unlike a request's `Redactor`).
"""

from __future__ import annotations

from functools import lru_cache

from warden.safety.detectors.pii_patterns import find_pii
from warden.safety.redaction import resolve_overlaps

# Short strings repeat (routes, model names, key ids, logger messages): remember them.
_CACHED_UP_TO = 256


def _scrub(text: str) -> str:
    findings = resolve_overlaps(find_pii(text))
    if not findings:
        return text
    parts: list[str] = []
    at = 0
    for f in findings:
        parts += [text[at:f.start], f"<{f.label}>"]
        at = f.end
    parts.append(text[at:])
    return "".join(parts)


_scrub_short = lru_cache(maxsize=4096)(_scrub)


def scrub_pii(text: str) -> str:
    """`text` with every pattern-detected PII value or secret replaced by `<LABEL>`."""
    if len(text) < 6:  # shorter than any detectable value
        return text
    return _scrub_short(text) if len(text) <= _CACHED_UP_TO else _scrub(text)
