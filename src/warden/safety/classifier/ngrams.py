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


def _buckets(points: np.ndarray, n_min: int, n_max: int, n_features: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(start position, bucket) of every char_wb n-gram in `points` (NUL never inside)."""
    length = len(points)
    space = points == _SPACE
    border = points == 0
    # spaces[k]: spaces among points[1..k]; borders[k]: NULs among points[0..k-1]. An
    # n-gram at i has a space inside when spaces moves between i and i + n - 2, and
    # crosses texts when borders moves between i and i + n.
    spaces = np.concatenate(([0], np.cumsum(space[1:], dtype=np.int64)))
    borders = np.concatenate(([0], np.cumsum(border, dtype=np.int64)))
    shift = np.uint64(64 - max(1, int(n_features - 1).bit_length()))
    starts_out: list[np.ndarray] = []
    buckets_out: list[np.ndarray] = []
    rolling = points.copy()                      # hash of the n-gram starting at i
    with np.errstate(over="ignore"):
        for n in range(1, n_max + 1):
            if n > 1:
                rolling = rolling[:-1] * _BASE + points[n - 1:]
            if n < n_min or n > length:
                continue
            starts = np.arange(length - n + 1)
            keep = borders[starts + n] - borders[starts] == 0
            if n > 2:
                keep &= spaces[starts + n - 2] - spaces[starts] == 0
            mixed = (rolling[keep] + np.uint64(n)) * _MIX
            starts_out.append(starts[keep])
            buckets_out.append((mixed >> shift).astype(np.int64) % n_features)
    if not starts_out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(starts_out), np.concatenate(buckets_out)


def ngram_buckets(text: str, n_min: int, n_max: int, n_features: int) -> np.ndarray:
    """The bucket of every char_wb n-gram of `text` (with repeats), as int64."""
    return _buckets(_points([text]), n_min, n_max, n_features)[1]


def hashed_counts(texts: Sequence[str], n_min: int, n_max: int, n_features: int
                  ) -> sparse.csr_matrix:
    """(len(texts), n_features) float32 counts of each text's n-gram buckets, computed
    for all texts in one pass."""
    if not texts:
        return sparse.csr_matrix(np.zeros((0, n_features), dtype=np.float32))
    points = _points(texts)
    starts, buckets = _buckets(points, n_min, n_max, n_features)
    owner = np.cumsum(points == 0, dtype=np.int64)[starts]   # text index of each n-gram
    keys, counts = np.unique(owner * n_features + buckets, return_counts=True)
    rows = keys // n_features
    indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
    return sparse.csr_matrix((counts.astype(np.float32), keys % n_features, indptr),
                             shape=(len(texts), n_features))


def bucket_of(gram: str, n_features: int) -> int:
    """The bucket of one n-gram, computed plainly (the reference `ngram_buckets` matches)."""
    mask = (1 << 64) - 1
    h = 0
    for char in gram:
        h = (h * int(_BASE) + ord(char)) & mask
    shift = 64 - max(1, int(n_features - 1).bit_length())
    return ((((h + len(gram)) * int(_MIX)) & mask) >> shift) % n_features
