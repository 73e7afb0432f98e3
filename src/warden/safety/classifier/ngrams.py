"""Hashed character n-grams inside word boundaries, computed with numpy.

The n-grams are scikit-learn's `char_wb` (each word padded with one space on each side, all
its n-grams for n in [n_min, n_max]); a test checks the two produce the same n-grams. What
differs is speed: scikit-learn builds each n-gram as a Python string and hashes it one by
one, which took about 2.3 ms per kilobyte and was two thirds of the guard's time once the
sentence vectors became static. Here a text becomes an array of code points, and the
n-grams of one length are rolling polynomial hashes over that array, one vector operation
each: an n-gram is kept where it holds no space except at its ends (words are joined by
one space, which pads the word before it and the word after it).

The bucket of an n-gram is a 64-bit multiplicative hash of its code points (n is mixed
in), folded to `n_features` buckets. Collisions are harmless at 2^18 buckets; the heads
are trained on exactly these features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

_SPACE = 32
_BASE = np.uint64(0x100000001B3)          # FNV-64 prime: the polynomial's base
_MIX = np.uint64(0x9E3779B97F4A7C15)      # golden-ratio constant: spreads the high bits


def _points(texts: Sequence[str]) -> np.ndarray:
    """Code points of every text as " w1 w2 ... wk " (lower-cased, words split on any
    whitespace), texts separated by NUL; an empty text keeps its separator."""
    padded = [" " + " ".join(words) + " " if (words := t.lower().split()) else ""
              for t in texts]
    joined = "\0".join(padded)
    return np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _keys(points: np.ndarray, n_min: int, n_max: int, n_features: int) -> np.ndarray:
    """text index * n_features + bucket, for every char_wb n-gram in `points` (NUL never
    inside an n-gram). Slices, not index arrays: a kilobyte is a few thousand n-grams, so
    numpy's per-call overhead, not arithmetic, is what costs here."""
    length = len(points)
    # spaces[k]: spaces among points[1..k]; borders[k]: NULs among points[0..k-1]. An
    # n-gram at i has a space inside when spaces moves between i and i + n - 2, and
    # crosses texts when borders moves between i and i + n.
    spaces = np.zeros(length, dtype=np.int64)
    np.cumsum(points[1:] == _SPACE, out=spaces[1:])
    borders = np.zeros(length + 1, dtype=np.int64)
    np.cumsum(points == 0, out=borders[1:])
    bits = max(1, int(n_features - 1).bit_length())
    shift = np.uint64(64 - bits)
    owner = borders[:-1] * n_features          # text index of an n-gram starting at i
    out: list[np.ndarray] = []
    rolling = points.copy()                      # hash of the n-gram starting at i
    with np.errstate(over="ignore"):
        for n in range(1, min(n_max, length) + 1):
            if n > 1:
                rolling = rolling[:-1] * _BASE + points[n - 1:]
            if n < n_min:
                continue
            count = length - n + 1
            keep = borders[n:n + count] == borders[:count]
            if n > 2:
                keep &= spaces[n - 2:n - 2 + count] == spaces[:count]
            bucket = ((rolling[keep] + np.uint64(n)) * _MIX >> shift).astype(np.int64)
            if n_features != 1 << bits:           # a power of two needs no fold
                bucket %= n_features
            out.append(owner[:count][keep] + bucket)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def ngram_buckets(text: str, n_min: int, n_max: int, n_features: int) -> np.ndarray:
    """The bucket of every char_wb n-gram of `text` (with repeats), as int64."""
    return _keys(_points([text]), n_min, n_max, n_features)


def hashed_counts(texts: Sequence[str], n_min: int, n_max: int, n_features: int
                  ) -> sparse.csr_matrix:
    """(len(texts), n_features) float32 counts of each text's n-gram buckets, computed
    for all texts in one pass."""
    indices, counts, indptr = bucket_counts(texts, n_min, n_max, n_features)
    return sparse.csr_matrix((counts.astype(np.float32), indices, indptr),
                             shape=(len(texts), n_features))


def bucket_counts(texts: Sequence[str], n_min: int, n_max: int, n_features: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR parts of `hashed_counts`: (bucket indices, int64 counts, row pointers),
    buckets sorted within each row."""
    if not texts:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros(1, dtype=np.int64))
    keys = _keys(_points(texts), n_min, n_max, n_features)
    keys.sort()
    first = np.empty(len(keys), dtype=bool)     # where a new key starts (np.unique, inlined)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    unique = keys[starts]
    counts = np.diff(np.append(starts, len(keys)))
    indptr = np.searchsorted(unique, np.arange(len(texts) + 1) * n_features)
    return unique % n_features, counts, indptr


def bucket_of(gram: str, n_features: int) -> int:
    """The bucket of one n-gram, computed plainly (the reference `ngram_buckets` matches)."""
    mask = (1 << 64) - 1
    h = 0
    for char in gram:
        h = (h * int(_BASE) + ord(char)) & mask
    shift = 64 - max(1, int(n_features - 1).bit_length())
    return ((((h + len(gram)) * int(_MIX)) & mask) >> shift) % n_features
