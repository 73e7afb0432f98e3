"""A guard category as a pipeline detector: windows, views, screen, then the full model.

For each window of the text and each view of it (canonical, decoded): the screen (n-grams
only) clears most ordinary text; a view that passes the screen is embedded (the static
encoder distilled from MiniLM, or MiniLM itself where an older card names it) and scored by
the full model; a window is flagged when its best view reaches the head's threshold. The
finding spans the window in the original text and carries the calibrated probability as its
score.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from warden.safety.classifier.features import default_embedder, embeddings
from warden.safety.classifier.head import Head
from warden.safety.classifier.windows import MAX_CHARS, analysed
from warden.safety.policy import Category, Finding

HeadSource = Callable[[], Head]

# A statistical head trained on whole messages has almost no evidence in a window of one or
# two words, and there it fired on ordinary openers: the output guard checks a stream line by
# line, and "Here's", "To make" or "OK" scored 0.6-0.8 toxicity (CI: benign-git-ignore). The
# heads are now trained with answer openers as negatives (scripts/structured_negatives.py);
# this rule is the guard for the short lines training did not see: one word is never judged,
# two words need 0.85 (measured with the shipped heads: "fuck you" 0.94, "kill yourself"
# 0.94, "you idiot" 0.90; benign two-word openers at most 0.48), three or more words use the
# head's threshold.
SHORT_WORDS = 3
SHORT_PROBABILITY = 0.85
_WORD = re.compile(r"\w+(?:['’]\w+)*")


def evidence_threshold(text: str, threshold: float) -> float:
    """The probability a window needs, given how many words it holds (above 1 = never)."""
    words = len(_WORD.findall(text, 0)) if len(text) < 64 else SHORT_WORDS
    if words <= 1:
        return 2.0
    return max(threshold, SHORT_PROBABILITY) if words < SHORT_WORDS else threshold


class ClassifierDetector:
    """Flags the windows of a text that a trained head puts over its threshold."""

    cost = 3
    needs_ner = False

    def __init__(self, category: Category, head: Head | HeadSource, *, label: str,
                 embedder: Any = None, max_chars: int = MAX_CHARS) -> None:
        self.category: Category = category
        self.name = f"{category}.classifier"
        self.label = label
        self.max_chars = max_chars
        self._head = head if isinstance(head, Head) else None
        self._source = None if isinstance(head, Head) else head
        self._embedder = embedder
        self._lock = threading.Lock()

    def load(self) -> None:
        """Read (or train) the head and load its encoder now, not on the first request."""
        head = self.head
        if self._embedder is None:
            self._embedder = default_embedder(head.spec)

    @property
    def head(self) -> Head:
        """The trained head, loaded (or trained, for an operator category) on first use."""
        if self._head is None:
            with self._lock:
                if self._head is None:
                    assert self._source is not None
                    self._head = self._source()
        return self._head

    def scores(self, text: str) -> list[tuple[int, int, float, float]]:
        """(start, end, best screen probability, best calibrated probability) per window;
        windows cleared by the screen report their screen probability as the second too
        (always below the threshold)."""
        head = self.head
        analysis = analysed(text, head.spec, self.max_chars,
                            bool(head.card.get("sentences", False)))
        if not analysis.texts:
            return []
        screen = head.screen(analysis.chars, embeddings(
            analysis.texts, spec=head.spec.screen_spec()) if head.spec.screen_embedding
            else None)
        screen_best = np.zeros(len(analysis.windows))
        np.maximum.at(screen_best, analysis.owner, screen)
        best = np.zeros(len(analysis.windows))
        np.maximum.at(best, analysis.owner, np.minimum(screen, head.threshold * 0.999))
        passed = np.where(screen >= head.screen_threshold)[0]
        if passed.size:
            vectors = embeddings([analysis.texts[i] for i in passed], self._embedder,
                                 head.spec)
            full = head.full(analysis.chars[passed], vectors)
            np.maximum.at(best, analysis.owner[passed], full)
        return [(w.start, w.end, float(s), float(p)) for w, s, p in
                zip(analysis.windows, screen_best, best, strict=True)]

    def probabilities(self, text: str) -> list[tuple[int, int, float]]:
        """(start, end, best calibrated probability) per window (see `scores`)."""
        return [(start, end, p) for start, end, _, p in self.scores(text)]

    def scan(self, text: str, *, indirect: bool = False) -> list[Finding]:
        """Flagged windows; `indirect` (a document or tool output, not the user's own
        words) applies the head's threshold for indirect content.

        A short window needs more evidence (`evidence_threshold`). Where the two models
        must agree, the screen (which reads every window and is calibrated for it alone)
        carries that rule and the full model its own threshold: with agreement the full
        threshold is low (toxicity 0.14) and "you idiot" scores 0.68 there, 0.999 on the
        screen."""
        head = self.head
        threshold = head.indirect_threshold if indirect else head.threshold
        agree = head.spec.screen_embedding is not None
        found = []
        for start, end, screen, p in self.scores(text):
            part = text[start:end]
            if agree:
                flagged = screen >= evidence_threshold(part, head.screen_threshold) and \
                    p >= threshold
            else:
                flagged = p >= evidence_threshold(part, threshold)
            if flagged:
                found.append(Finding(self.category, start, end, round(p, 4), self.name,
                                     self.label))
        return found
