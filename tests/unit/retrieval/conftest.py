"""Fixtures for retrieval unit tests: a fast deterministic embedder and a fresh store.

The fake embedder hashes words into 384 buckets (a bag of words), so similar texts get
similar vectors and tests exercise the real vector path without loading torch. The real
MiniLM runs in tests/integration/test_retrieval*.py.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from warden.config.retrieval import ChunkingConfig, RetrievalConfig
from warden.retrieval.service import Retrieval
from warden.store.audit import AuditLog
from warden.store.db import Database

DATA = Path(__file__).resolve().parents[2] / "data" / "retrieval"


class FakeEmbedder:
    name = "fake-bag-of-words"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 384), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4)
                                        .digest(), "little") % 384
                out[i, bucket] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


@pytest.fixture()
def config(tmp_path: Path) -> RetrievalConfig:
    # The regex tokenizer keeps unit tests free of model files; integration uses MiniLM's.
    return RetrievalConfig(data_dir=str(tmp_path / "data"),
                           chunking=ChunkingConfig(tokenizer="regex"))


@pytest.fixture()
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture()
def retrieval(db: Database, config: RetrievalConfig, embedder: FakeEmbedder) -> Retrieval:
    return Retrieval(db, config, embedder=embedder, audit=AuditLog(db))
