"""Redaction: typed placeholders (`<EMAIL_1>`) that stay consistent across one request.

Pure: no models, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from warden.safety.policy import Finding

# Placeholder stems: the spec's `<EMAIL_1>` is shorter than Presidio's EMAIL_ADDRESS label.
_STEMS = {"EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN"}
_STEM_SAFE = re.compile(r"[^A-Z0-9_]")


def placeholder_stem(label: str) -> str:
    return _STEMS.get(label, _STEM_SAFE.sub("_", label.upper()) or "PII")


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Non-overlapping findings in text order; on overlap the longer, then surer one wins."""
    ranked = sorted(findings, key=lambda f: (-(f.end - f.start), -f.score, f.start))
    kept: list[Finding] = []
    for f in ranked:
        if f.end > f.start and all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


class Redactor:
    """Typed placeholders that stay consistent across every text of one request.

    The same value gets the same placeholder in the system prompt, every chat turn and the
    output, so the model can still refer to "<EMAIL_1>" coherently. Once a value is mapped,
    every later occurrence of it is masked too, even where no detector fires (NER often
    misses a name standing alone in a short chunk). One instance per request: the mapping
    holds the raw values and must never be logged or persisted.
    """

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}  # (stem, folded value) -> token
        self._counts: dict[str, int] = {}
        self.mapping: dict[str, str] = {}  # placeholder -> original value
        self._known: re.Pattern[str] | None = None
        self._known_tokens: dict[str, str] = {}  # lowercased, space-collapsed value -> token

    def placeholder(self, label: str, value: str) -> str:
        stem = placeholder_stem(label)
        key = (stem, _fold(value))  # "Jane.Roe@x.com" and "jane.roe@x.com" are one value
        if key not in self._by_value:
            self._counts[stem] = self._counts.get(stem, 0) + 1
            token = f"<{stem}_{self._counts[stem]}>"
            self._by_value[key] = token
            self.mapping[token] = value
            self._known = None  # the value set changed: rebuild the matcher lazily
        return self._by_value[key]

    @property
    def known_values(self) -> list[str]:
        """Every value mapped so far, longest first (what `mask_known` looks for)."""
        return sorted({v for v in self.mapping.values() if len(v.strip()) >= _MIN_KNOWN},
                      key=len, reverse=True)

    def _matcher(self) -> re.Pattern[str] | None:
        if self._known is None and self.mapping:
            values = self.known_values
            if not values:
                return None
            # First token wins when two stems hold the same value: numbering is by order seen.
            self._known_tokens = {}
            for token, value in self.mapping.items():
                self._known_tokens.setdefault(_fold(value), token)
            self._known = re.compile("|".join(_value_pattern(v) for v in values),
                                     re.IGNORECASE)
        return self._known

    def mask_known(self, text: str) -> tuple[str, dict[str, str]]:
        """`text` with every occurrence of an already-mapped value replaced by its
        placeholder (case-insensitive, any whitespace between words, whole words only);
        returns (text, placeholders used)."""
        matcher = self._matcher()
        if matcher is None:
            return text, {}
        used: dict[str, str] = {}

        def replace(m: re.Match[str]) -> str:
            token = self._known_tokens.get(_fold(m.group())) or next(
                t for t, v in self.mapping.items()
                if re.fullmatch(_value_pattern(v), m.group(), re.IGNORECASE))
            used[token] = self.mapping[token]
            return token

        return matcher.sub(replace, text), used

    def redact(self, text: str, findings: Iterable[Finding]) -> tuple[str, dict[str, str]]:
        """`text` with every finding's span replaced, and every other occurrence of a value
        mapped so far (here or in an earlier text of the request); returns (text,
        placeholders used here)."""
        spans: list[tuple[int, int, str]] = []
        used: dict[str, str] = {}
        for f in resolve_overlaps(f for f in findings if f.end <= len(text)):
            value = text[f.start:f.end]
            token = self.placeholder(f.label, value)
            used[token] = value
            spans.append((f.start, f.end, token))
        # Placeholders first, then the gaps: a value found late in this text masks its
        # earlier, undetected occurrences too.
        parts: list[str] = []
        cursor = 0
        for start, end, token in [*spans, (len(text), len(text), "")]:
            gap, gap_used = self.mask_known(text[cursor:start])
            used.update(gap_used)
            parts.append(gap)
            parts.append(token)
            cursor = end
        return "".join(parts), used

    def pending_prefix(self, text: str, following: str = "") -> int:
        """How many trailing characters of `text` could be the start of a mapped value that
        `following` (what is known of the continuation) does not rule out. A stream guard
        holds those back so a value split across releases is still masked whole."""
        tail = _spaces(text.lower())
        nxt = _spaces(following.lower())
        longest = 0
        for value in self.known_values:
            v = _spaces(value.lower())
            for k in range(min(len(v) - 1, len(tail)), longest, -1):
                rest = v[k:]
                if tail.endswith(v[:k]) and (rest.startswith(nxt) or nxt.startswith(rest)):
                    longest = k
                    break
        return longest


_MIN_KNOWN = 2  # a single character would mask every "a" and "I"


def _fold(value: str) -> str:
    return " ".join(value.split()).lower()


def _spaces(text: str) -> str:
    """Every whitespace character as a plain space (length kept, for prefix comparisons)."""
    return re.sub(r"\s", " ", text)


def _value_pattern(value: str) -> str:
    """A regex for `value`: its words with any whitespace between them, and no word glued
    on either side ("Ann" must not mask "Annual")."""
    body = r"\s+".join(re.escape(w) for w in value.split())
    head = r"(?<!\w)" if re.match(r"\w", value.strip()) else ""
    tail = r"(?!\w)" if re.search(r"\w$", value.strip()) else ""
    return f"{head}{body}{tail}"


def mask(text: str, findings: Iterable[Finding]) -> str:
    """`text` with the findings' spans blanked out, offsets unchanged.

    NER sees "Marcus Delgado (                      )" instead of gluing the email to the
    name, and reports spans that still index the original text.
    """
    chars = list(text)
    for f in findings:
        for i in range(f.start, min(f.end, len(chars))):
            if not chars[i].isspace():
                chars[i] = " "
    return "".join(chars)


def redact(text: str, findings: Iterable[Finding]) -> tuple[str, dict[str, str]]:
    """One-off redaction of a single text (use a `Redactor` to span several texts)."""
    return Redactor().redact(text, findings)
