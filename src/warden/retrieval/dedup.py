"""Exact and near-duplicate removal: content hashes, then MinHash over word shingles + LSH.

Pure and deterministic (fixed seeds, first occurrence wins), so the same input always keeps
the same chunks and a version's Merkle root is reproducible.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_SEED = 0x5EED_D0D0
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class DedupResult:
    kept: list[int]                                  # input positions, in input order
    exact_duplicates: int
    near_duplicates: int
    duplicate_of: dict[int, int] = field(default_factory=dict)  # removed -> kept position

    @property
    def total(self) -> int:
        return len(self.kept) + self.exact_duplicates + self.near_duplicates

    @property
    def rate(self) -> float:
        """Share of input chunks removed as exact or near duplicates."""
        return (self.exact_duplicates + self.near_duplicates) / self.total if self.total else 0.0


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads every input bit over the whole word."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed: np.ndarray = x ^ (x >> np.uint64(31))
        return mixed


class MinHasher:
    def __init__(self, permutations: int = 128, shingle_words: int = 5) -> None:
        rng = np.random.default_rng(_SEED)
        self.permutations = permutations
        self.shingle_words = shingle_words
        self._a = rng.integers(1, 2**63, size=permutations, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 2**63, size=permutations, dtype=np.uint64)
        self._word_cache: dict[str, int] = {}

    def _word_hash(self, word: str) -> int:
        cached = self._word_cache.get(word)
        if cached is None:
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            cached = self._word_cache[word] = int.from_bytes(digest, "little")
        return cached

    def shingles(self, text: str) -> np.ndarray:
        words = np.array([self._word_hash(w) for w in _WORD.findall(text.lower())],
                         dtype=np.uint64)
        n = self.shingle_words
        if len(words) == 0:
            return np.zeros(1, dtype=np.uint64)
        n = min(len(words), n)
        count = len(words) - n + 1
        combined = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(n):  # an order-sensitive combination of n consecutive words
                combined = _mix(combined ^ words[j:j + count]) + np.uint64(j)
        return np.unique(combined)

    def signature(self, text: str) -> np.ndarray:
        shingles = self.shingles(text)
        with np.errstate(over="ignore"):
            values = _mix(np.outer(self._a, shingles) + self._b[:, None])
        minima: np.ndarray = values.min(axis=1)
        return minima


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def deduplicate(hashes: Sequence[str], texts: Sequence[str], *, near: bool = True,
                threshold: float = 0.85, permutations: int = 128, bands: int = 32,
                shingle_words: int = 5) -> DedupResult:
    """Keep the first of each exact duplicate (same hash), then of each near-duplicate group."""
    if len(hashes) != len(texts):
        raise ValueError("hashes and texts must have the same length")
    seen: dict[str, int] = {}
    duplicate_of: dict[int, int] = {}
    unique: list[int] = []
    for i, h in enumerate(hashes):
        if h in seen:
            duplicate_of[i] = seen[h]
        else:
            seen[h] = i
            unique.append(i)
    exact = len(duplicate_of)
    if not near:
        return DedupResult(unique, exact, 0, duplicate_of)

    hasher = MinHasher(permutations, shingle_words)
    rows = permutations // bands
    buckets: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
    signatures: dict[int, np.ndarray] = {}
    kept: list[int] = []
    near_count = 0
    for i in unique:
        sig = hasher.signature(texts[i])
        keys = [sig[b * rows:(b + 1) * rows].tobytes() for b in range(bands)]
        candidates = {j for b, key in enumerate(keys) for j in buckets[b].get(key, ())}
        match = next((j for j in sorted(candidates)
                      if estimated_jaccard(sig, signatures[j]) >= threshold), None)
        if match is not None:
            duplicate_of[i] = match
            near_count += 1
            continue
        kept.append(i)
        signatures[i] = sig
        for b, key in enumerate(keys):
            buckets[b].setdefault(key, []).append(i)
    return DedupResult(kept, exact, near_count, duplicate_of)
