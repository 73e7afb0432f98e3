"""The output guard on a token stream: text leaves only after it was checked.

Generated text is held back until a segment ends (a sentence end or a newline) or the held
text reaches `max_hold` characters; then that segment is checked together with the tail of
what was already released (so a phrase split across the boundary is still seen) and is
released, redacted, or the stream is stopped. Nothing that was not checked is ever released,
so a stream that is cut for `content_filter` has leaked nothing.

Values the request's Redactor has already mapped to placeholders are masked in every
released segment, even where no detector fires on the repeat, and a segment's tail that
could be the start of such a value is held back until the next text shows whether it is.

Pure logic: the checker is any callable from text to Verdict.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from warden.safety.policy import Finding, Verdict
from warden.safety.redaction import Redactor

_BOUNDARY = re.compile(r"[.!?;:](?=\s)|\n")


@dataclass
class Release:
    """What the guard lets out after a push: text to send, and whether to stop."""

    text: str = ""
    blocked: bool = False
    verdict: Verdict | None = None


@dataclass
class StreamGuard:
    """`check(text)` judges a window; `redact(text, findings)` masks the listed spans (the
    request's Redactor, so placeholders match the ones used on the input). `known`, the same
    Redactor, masks later repeats of values it already mapped."""

    check: Callable[[str], Verdict]
    redact: Callable[[str, list[Finding]], str]
    max_hold: int = 160
    max_hold_s: float | None = None  # also release (at a word end) once text waited this long
    clock: Callable[[], float] = time.monotonic
    context: int = 64
    held_since: float | None = None
    released: str = ""
    held: str = ""
    blocked: bool = False
    interventions: list[Verdict] = field(default_factory=list)
    known: Redactor | None = None

    def _overdue(self) -> bool:
        return (self.max_hold_s is not None and self.held_since is not None
                and self.clock() - self.held_since >= self.max_hold_s)

    def will_check(self, text: str) -> bool:
        """Whether pushing `text` runs the checker (callers move that work off the loop)."""
        return (len(self.held) + len(text) >= self.max_hold or self._overdue()
                or _BOUNDARY.search(self.held[-1:] + text) is not None)

    def push(self, text: str) -> Release:
        if self.blocked:
            return Release(blocked=True)
        if not self.held:
            self.held_since = self.clock()
        self.held += text
        cut = self._cut_point()
        if cut is None:
            return Release()
        if self.known is not None:
            # "... Marcus " | "Delgado ...": keep a possible start of a mapped value back.
            cut -= self.known.pending_prefix(self.held[:cut], self.held[cut:])
            if cut <= 0:
                return Release()
        segment, self.held = self.held[:cut], self.held[cut:]
        self.held_since = self.clock() if self.held else None
        return self._release(segment)

    def finish(self) -> Release:
        if self.blocked or not self.held:
            return Release(blocked=self.blocked)
        segment, self.held = self.held, ""
        return self._release(segment)

    def _cut_point(self) -> int | None:
        last = None
        for match in _BOUNDARY.finditer(self.held):
            last = match.end()
        if last is not None:
            return last
        if self._overdue():
            # Waited long enough: release whole words now, keep the word still being written.
            space = self.held.rfind(" ")
            return space + 1 if space > 0 else None
        if len(self.held) >= self.max_hold:
            # No boundary in sight: cut at the last space so words stay whole.
            space = self.held.rfind(" ", 0, self.max_hold)
            return space + 1 if space > 0 else self.max_hold
        return None

    def _release(self, segment: str) -> Release:
        prefix = self.released[-self.context:]
        verdict = self.check(prefix + segment)
        if verdict.action in ("block", "escalate"):
            self.blocked = True
            self.interventions.append(verdict)
            return Release(blocked=True, verdict=verdict)
        if verdict.action == "redact":
            # Findings are relative to prefix + segment; keep the parts inside the segment.
            # One that began in released text is masked from the boundary on: the released
            # part was checked on its own and held nothing detectable.
            offset = len(prefix)
            local = [Finding(f.category, max(f.start, offset) - offset, f.end - offset,
                             f.score, f.detector, f.label)
                     for f in verdict.findings if f.end > offset]
            if local:
                self.interventions.append(verdict)
                segment = self.redact(segment, local)
        if self.known is not None:
            # Not a new intervention: the value was recorded when it was first mapped.
            segment = self.known.mask_known(segment)[0]
        self.released += segment
        return Release(text=segment, verdict=verdict)
