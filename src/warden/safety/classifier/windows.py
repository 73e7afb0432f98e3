"""Text windows: what a classifier scores, and the spans its findings point at.

A long text is cut at sentence ends into windows of at most `max_chars`, so one abusive
sentence or one planted instruction in a long benign document is scored nearly on its own
instead of being averaged away. A window whose canonical view differs (decoded, unmasked)
is scored in every view; `Analysis` holds those views and their n-gram features, computed
once per text and shared by every category's detector (a small per-process cache).
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


@dataclass(frozen=True)
class Analysis:
    """A text's windows, the views of each window, and their n-gram features."""

    windows: tuple[Window, ...]
    texts: tuple[str, ...]       # one per view
    owner: np.ndarray            # view index -> window index
    chars: sparse.csr_matrix


def analyse(text: str, spec: FeatureSpec, max_chars: int = MAX_CHARS) -> Analysis:
    found = windows(text, max_chars)
    texts: list[str] = []
    owner: list[int] = []
    for i, w in enumerate(found):
        for view in views(text[w.start:w.end]):
            if view.strip():
                texts.append(view)
                owner.append(i)
    chars = char_ngrams(spec, texts) if texts else \
        sparse.csr_matrix(np.zeros((0, spec.n_features), dtype=np.float32))
    return Analysis(tuple(found), tuple(texts), np.asarray(owner, dtype=np.int64), chars)


_CACHE_SIZE = 64
_cache: OrderedDict[tuple[FeatureSpec, int, str], Analysis] = OrderedDict()
_lock = threading.Lock()


def analysed(text: str, spec: FeatureSpec, max_chars: int = MAX_CHARS) -> Analysis:
    """`analyse`, remembered for the last few texts: the crisis, toxicity and injection
    detectors (and operator categories) of one check share one analysis."""
    key = (spec, max_chars, text)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    result = analyse(text, spec, max_chars)
    with _lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result
