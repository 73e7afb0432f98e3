"""Forbidden phrases as a logit mask: the model cannot produce them, whatever the sampling.

A phrase may span several tokens and be split in many ways, so the mask is computed from the
text generated so far (case-insensitive):
- a token whose text contains a whole phrase is always banned;
- when the output ends with the first k characters of a phrase, every token whose text
  starts with the remaining characters is banned for the next step.
Between them, no sequence of tokens can ever spell a phrase. Pure logic over token texts;
lookups use a sorted vocabulary, so a prefix query is two bisections.
"""

from __future__ import annotations

import bisect
from functools import lru_cache


class ForbiddenPhrases:
    def __init__(self, phrases: tuple[str, ...], token_texts: list[str]) -> None:
        self.phrases = tuple(sorted({p.lower() for p in phrases if p.strip()}))
        lowered = [t.lower() for t in token_texts]
        self._order = sorted(range(len(lowered)), key=lowered.__getitem__)
        self._sorted = [lowered[i] for i in self._order]
        self.always = frozenset(i for i, text in enumerate(lowered)
                                if any(p in text for p in self.phrases))
        self._tail_chars = max((len(p) for p in self.phrases), default=1)

    def _starting_with(self, prefix: str) -> frozenset[int]:
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = bisect.bisect_left(self._sorted, prefix + "\U0010ffff")
        return frozenset(self._order[lo:hi])

    def banned(self, generated: str) -> frozenset[int]:
        """Token ids that must not come next after `generated`."""
        tail = generated[-self._tail_chars:].lower()
        result = set(self.always)
        for phrase in self.phrases:
            for k in range(1, len(phrase)):
                if tail.endswith(phrase[:k]):
                    result |= self._completions(phrase[k:])
        return frozenset(result)

    def _completions(self, rest: str) -> frozenset[int]:
        return _cached_prefix(self, rest)

    def __hash__(self) -> int:
        return hash(self.phrases)


@lru_cache(maxsize=4096)
def _cached_prefix(table: ForbiddenPhrases, rest: str) -> frozenset[int]:
    return table._starting_with(rest)
