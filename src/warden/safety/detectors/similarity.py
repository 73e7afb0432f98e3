"""Cosine similarity of text windows to shipped phrase sets, with MiniLM embeddings.

A phrase file holds two labelled sets: `+` lines are what we look for (attacks, statements of
intent), `-` lines are benign look-alikes. A window scores by how much closer it is to its
nearest positives than to its nearest negatives (mean of the top 3 on each side, which is
steadier than a single nearest neighbour), cancelling the topical similarity that "ignore
the previous error" shares with "ignore the previous instructions".

Embedding costs ~5-20 ms per short sentence on this 2-core CPU, so detectors call this only
for sentences that a cheap lexical trigger already picked out.
"""

from __future__ import annotations

import threading
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
        vectors = self.embedder.embed(list(windows))
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
    return np.sort(similarities, axis=1)[:, -k:].mean(axis=1)


@cache
def phrase_index(name: str) -> PhraseIndex:
    """One index per phrase file per process (shared by every pipeline)."""
    return PhraseIndex(name)
