"""Fixtures for rollout unit tests: a real store and real index versions built with a fast
bag-of-words embedder (the real MiniLM runs in tests/integration/test_rollout*.py)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from warden.config import WardenConfig
from warden.config.retrieval import ChunkingConfig, RetrievalConfig
from warden.retrieval.service import Retrieval
from warden.rollout.arms import prompt_versions
from warden.rollout.caches import CacheClearer, engine_prefix_cache, pointer_cache
from warden.rollout.runtime import seeds
from warden.rollout.service import RolloutService
from warden.rollout.state import RolloutStore
from warden.rollout.verdicts import VerdictStore
from warden.rollout.view import RolloutView
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents

MODEL = "smollm2-135m-instruct"
CORPUS = "docs"


class BagOfWords:
    name = "bag-of-words"

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 384] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


class ClearableEngine:
    def __init__(self) -> None:
        self.cleared = 0

    def clear_prefix_cache(self) -> None:
        self.cleared += 1


def write_docs(root: Path, names: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / f"{name}.md").write_text(f"# {name}\n\nThe {name} module does {name} things. "
                                         f"It is documented here with care about {name}.\n")
    return root


@pytest.fixture()
def retrieval(db: Database, tmp_path: Path) -> Retrieval:
    config = RetrievalConfig(data_dir=str(tmp_path / "data"),
                             chunking=ChunkingConfig(tokenizer="regex"))
    return Retrieval(db, config, embedder=BagOfWords(), audit=AuditLog(db))


@pytest.fixture()
def versions(retrieval: Retrieval, tmp_path: Path) -> tuple[int, int]:
    """v1 (active): alpha, beta, gamma; v2 (ready, not active): alpha only."""
    full = write_docs(tmp_path / "full", ["alpha", "beta", "gamma"])
    partial = write_docs(tmp_path / "partial", ["alpha"])
    v1 = retrieval.ingest([full], corpus=CORPUS, activate=True).version
    v2 = retrieval.ingest([partial], corpus=CORPUS, activate=False).version
    return v1, v2


def warden_config(**rollout: object) -> WardenConfig:
    return WardenConfig.model_validate({"rollouts": {
        "prompts": {"terse": {"system": "Be brief."}},
        "models": {"assistant": {"champion": {"model": MODEL}, **rollout}}}})


@pytest.fixture()
def engine() -> ClearableEngine:
    return ClearableEngine()


@pytest.fixture()
def service(db: Database, retrieval: Retrieval, engine: ClearableEngine) -> RolloutService:
    config = warden_config()
    prompts = prompt_versions(config.rollouts.prompts)
    store = RolloutStore(db)
    store.seed(seeds(config, prompts))
    caches = CacheClearer({"retrieval_pointer": pointer_cache(
        retrieval.searcher.pointer.invalidate), "prefix_cache:m": engine_prefix_cache(engine),
        "prefix_cache:old": engine_prefix_cache(object())})
    return RolloutService(config, store, view=RolloutView(store), verdicts=VerdictStore(db),
                          prompts=prompts, audit=AuditLog(db), incidents=Incidents(db),
                          retrieval=retrieval, caches=caches)
