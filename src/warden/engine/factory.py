"""Build the engine a model's config asks for."""

from __future__ import annotations

from warden.config import ModelConfig
from warden.engine.base import Engine


def build_engine(config: ModelConfig) -> Engine:
    if config.backend == "upstream":
        from warden.engine.upstream import UpstreamEngine

        return UpstreamEngine(config)
    from warden.engine.batching.engine import LlamaCppEngine

    return LlamaCppEngine(config)
