"""Text windows: what a classifier scores, and the spans its findings point at.

A long text is cut at sentence ends into windows of at most `max_chars`, so one abusive
sentence or one planted instruction in a long benign document is scored nearly on its own
instead of being averaged away. Where a head's card says so (`sentences`, chosen on
validation), a window of several sentences is also scored sentence by sentence (`pieces`):
the sentence vector is a mean of token vectors, and "I want to end my life." after a name,
an address and an unrelated request averaged below the crisis threshold (0.12) although it
scores 0.99 alone. A window's score is then the best of the window and its sentences. A
window whose canonical view differs (decoded, unmasked) is scored in every view; `Analysis`
holds those views and their n-gram features, computed once per text and shared by every
category's detector (a small per-process cache).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from warden.safety.classifier.features import FeatureSpec, char_ngrams
from warden.safety.textviews import views

MAX_CHARS = 320
# Leading whitespace stays outside the span, so a redacted or quoted sentence starts clean.
_SENTENCE = re.compile(r"[^.!?\n\s][^.!?\n]*(?:[.!?]+|\n|$)")


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int


def windows(text: str, max_chars: int = MAX_CHARS) -> list[Window]:
    """Consecutive sentence groups of at most `max_chars` (a longer sentence is its own
    window, cut at `max_chars` on a space)."""
    out: list[Window] = []
    start = end = -1
    for m in _SENTENCE.finditer(text):
        s, e = m.start(), m.end()
        if start >= 0 and e - start <= max_chars:
            end = e
            continue
        if start >= 0:
            out.append(Window(start, end))
        start, end = s, e
        while end - start > max_chars:
            cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
            cut = cut if cut > start else start + max_chars
            out.append(Window(start, cut))
            start = cut + 1 if text[cut:cut + 1] == " " else cut
    if start >= 0 and end > start:
        out.append(Window(start, end))
    return out


# A sentence needs this many words to be scored on its own (shorter ones are judged only
# inside their window: one or two words carry too little evidence, see detector.py).
PIECE_MIN_WORDS = 3
_WORD = re.compile(r"\w+")


def sentences(text: str) -> list[str]:
    return [m.group(0) for m in _SENTENCE.finditer(text)]


def pieces(text: str, max_chars: int = MAX_CHARS) -> list[tuple[int, str]]:
    """(window index, text) for each window and, where a window holds several sentences,
    each of its sentences of at least `PIECE_MIN_WORDS` words."""
    out: list[tuple[int, str]] = []
    for i, w in enumerate(windows(text, max_chars)):
        part = text[w.start:w.end]
        out.append((i, part))
        found = sentences(part)
        if len(found) > 1:
            out += [(i, s) for s in found if len(_WORD.findall(s)) >= PIECE_MIN_WORDS]
    return out


@dataclass(frozen=True)
class Analysis:
    """A text's windows, the views of each window and of its sentences (`pieces`), and
    their n-gram features."""

    windows: tuple[Window, ...]
    texts: tuple[str, ...]       # one per view of a piece
    owner: np.ndarray            # view index -> window index
    chars: sparse.csr_matrix


def analyse(text: str, spec: FeatureSpec, max_chars: int = MAX_CHARS,
            sentences: bool = False) -> Analysis:
    found = windows(text, max_chars)
    texts: list[str] = []
    owner: list[int] = []
    scored = pieces(text, max_chars) if sentences else \
        [(i, text[w.start:w.end]) for i, w in enumerate(found)]
    for i, piece in scored:
        for view in views(piece):
            if view.strip():
                texts.append(view)
                owner.append(i)
    chars = char_ngrams(spec, texts) if texts else \
        sparse.csr_matrix(np.zeros((0, spec.n_features), dtype=np.float32))
    return Analysis(tuple(found), tuple(texts), np.asarray(owner, dtype=np.int64), chars)


_CACHE_SIZE = 64
_cache: OrderedDict[tuple[FeatureSpec, int, bool, str], Analysis] = OrderedDict()
_lock = threading.Lock()


def analysed(text: str, spec: FeatureSpec, max_chars: int = MAX_CHARS,
             sentences: bool = False) -> Analysis:
    """`analyse`, remembered for the last few texts: the crisis, toxicity and injection
    detectors (and operator categories) of one check share one analysis."""
    key = (spec, max_chars, sentences, text)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    result = analyse(text, spec, max_chars, sentences)
    with _lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result
