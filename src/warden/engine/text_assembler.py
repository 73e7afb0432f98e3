"""Turns token bytes into text that is safe to emit: whole UTF-8 characters, stops applied.

Pure logic shared by every in-process engine. Two reasons text is held back:
- a token may end inside a multi-byte UTF-8 character;
- the tail may be the start of a stop string, which must never be emitted.
"""

from __future__ import annotations

import codecs


class TextAssembler:
    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self._stop = tuple(s for s in stop if s)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # decoded text not yet emitted because it may begin a stop string
        self.stopped = False
        self.emitted = ""

    def push(self, piece: bytes) -> str:
        """Add one token's bytes; return the text that may be emitted now."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(piece)
        return self._release(final=False)

    def flush(self) -> str:
        """End of generation: emit whatever is still held (unless a stop matched)."""
        if self.stopped:
            return ""
        self._pending += self._decoder.decode(b"", final=True)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        cut = self._first_stop_index(self._pending)
        if cut is not None:
            out = self._pending[:cut]
            self._pending = ""
            self.stopped = True
        elif final or not self._stop:
            out, self._pending = self._pending, ""
        else:
            hold = self._held_suffix_length(self._pending)
            out = self._pending[: len(self._pending) - hold]
            self._pending = self._pending[len(self._pending) - hold:]
        self.emitted += out
        return out

    def _first_stop_index(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        return min(hits) if hits else None

    def _held_suffix_length(self, text: str) -> int:
        """Length of the longest tail of text that is a proper prefix of some stop string."""
        longest = 0
        for stop in self._stop:
            for n in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:n]):
                    longest = n
                    break
        return longest
