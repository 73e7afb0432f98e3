"""Cosine similarity of text windows to shipped phrase sets, with MiniLM embeddings.

A phrase file holds two labelled sets: `+` lines are what we look for (attacks, statements of
intent), `-` lines are benign look-alikes. A window scores by how much closer it is to its
nearest positives than to its nearest negatives (mean of the top 3 on each side, which is
steadier than a single nearest neighbour), cancelling the topical similarity that "ignore
the previous error" shares with "ignore the previous instructions".

Embedding costs ~5-20 ms per short sentence on this 2-core CPU, so detectors call this only
for sentences that a cheap lexical trigger already picked out, and a sentence's vector is
kept in a small per-process cache: when the crisis and injection checks both pick the same
sentence of one request, it is embedded once.

`SimilarityCheck` is the thresholded fallback both detectors use: windows in, flagged
windows out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

DATA_PACKAGE = "warden.safety.data"


def load_phrases(name: str) -> tuple[list[str], list[str]]:
    """(positives, negatives) from `warden/safety/data/<name>`; `#` starts a comment."""
    text = (resources.files(DATA_PACKAGE) / name).read_text(encoding="utf-8")
    positives: list[str] = []
    negatives: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        sign, _, phrase = line.partition(" ")
        if sign == "+":
            positives.append(phrase.strip())
        elif sign == "-":
            negatives.append(phrase.strip())
        else:
            raise ValueError(f"{name}: line must start with '+ ' or '- ': {raw!r}")
    return positives, negatives


TOP_K = 3


@dataclass(frozen=True, slots=True)
class Match:
    score: float       # mean top-k cosine to positives minus the same for negatives
    positive: float    # cosine to the nearest positive phrase
    negative: float    # cosine to the nearest negative phrase
    nearest: str       # the nearest positive phrase (for explanations, never logged raw text)


class PhraseIndex:
    """A phrase file's embeddings, computed once per process on first use."""

    def __init__(self, name: str, embedder: Any = None) -> None:
        self.name = name
        self._embedder = embedder
        self._lock = threading.Lock()
        self._pos: np.ndarray | None = None
        self._neg: np.ndarray | None = None
        self.positives, self.negatives = load_phrases(name)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from warden.embeddings import get_embedder

            self._embedder = get_embedder()
        return self._embedder

    def load(self) -> None:
        if self._pos is not None:
            return
        with self._lock:
            if self._pos is None:
                self._neg = self.embedder.embed(self.negatives) if self.negatives else None
                self._pos = self.embedder.embed(self.positives)

    def match(self, windows: Sequence[str]) -> list[Match]:
        if not windows:
            return []
        self.load()
        assert self._pos is not None
        vectors = embed_cached(self.embedder, windows)
        pos_sim = vectors @ self._pos.T
        neg_sim = (vectors @ self._neg.T if self._neg is not None
                   else np.zeros((len(windows), 1), dtype=np.float32))
        best = pos_sim.argmax(axis=1)
        pos_top = _top_mean(pos_sim)
        neg_top = _top_mean(neg_sim)
        return [Match(float(pt - nt), float(pos_sim[i, b]), float(neg_sim[i].max()),
                      self.positives[int(b)])
                for i, (pt, nt, b) in enumerate(zip(pos_top, neg_top, best, strict=True))]


def _top_mean(similarities: np.ndarray) -> np.ndarray:
    k = min(TOP_K, similarities.shape[1])
    means: np.ndarray = np.sort(similarities, axis=1)[:, -k:].mean(axis=1)
    return means


CACHE_SIZE = 512  # sentences; ~0.8 MB of float32 vectors
_cache: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def embed_cached(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """`embedder.embed(texts)`, reusing vectors of texts embedded recently by any detector.

    Keyed by the embedder's identity so a test's stand-in embedder never sees MiniLM's
    vectors. The cache holds text only in memory, like the request itself.
    """
    key = id(embedder)
    with _cache_lock:
        found = {t: _cache[(key, t)] for t in texts if (key, t) in _cache}
        for t in found:
            _cache.move_to_end((key, t))
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        fresh = embedder.embed(missing)
        with _cache_lock:
            for t, v in zip(missing, fresh, strict=True):
                found[t] = v
                _cache[(key, t)] = v
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)


@dataclass(frozen=True, slots=True)
class Window:
    """A span of the scanned text and the sentence in it that goes to the embedding check."""

    start: int
    end: int
    text: str


class SimilarityCheck:
    """The embedding fallback shared by the crisis and injection detectors.

    A window is flagged when it is closer to the phrase file's positives than to its
    negatives by at least `margin` (top-3 means) AND its nearest positive is at least
    `min_similarity` away in cosine: the first cancels topical similarity, the second keeps
    a sentence that is merely less unlike the attacks than the benign set from firing.
    """

    def __init__(self, phrase_file: str, margin: float, min_similarity: float,
                 index: PhraseIndex | None = None) -> None:
        self.phrase_file = phrase_file
        self.margin = margin
        self.min_similarity = min_similarity
        self._index = index

    @property
    def index(self) -> PhraseIndex:
        if self._index is None:
            self._index = phrase_index(self.phrase_file)
        return self._index

    def load(self) -> None:
        self.index.load()

    def passes(self, match: Match) -> bool:
        return match.score >= self.margin and match.positive >= self.min_similarity

    def flag(self, windows: Sequence[Window]) -> list[tuple[Window, Match]]:
        """The windows that pass, with their match (one embedding call for all)."""
        if not windows:
            return []
        matches = self.index.match([w.text for w in windows])
        return [(w, m) for w, m in zip(windows, matches, strict=True) if self.passes(m)]


@cache
def phrase_index(name: str) -> PhraseIndex:
    """One index per phrase file per process (shared by every pipeline)."""
    return PhraseIndex(name)


class SimilarityBacked:
    """What a detector with an embedding fallback shares: the check, its loading, its index.

    Subclasses call `__init__` with their phrase file and thresholds; `semantic=False` turns
    the fallback off (patterns only), so nothing is loaded.
    """

    def __init__(self, phrase_file: str, *, semantic: bool, margin: float,
                 min_similarity: float, index: PhraseIndex | None = None) -> None:
        self.semantic = semantic
        self.similarity = SimilarityCheck(phrase_file, margin, min_similarity, index)

    def load(self) -> None:
        if self.semantic:
            self.similarity.load()

    @property
    def index(self) -> PhraseIndex:
        return self.similarity.index
