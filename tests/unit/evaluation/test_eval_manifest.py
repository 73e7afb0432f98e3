"""Run manifest: validation, canonical JSON, manifest_hash, JSON/YAML round trips."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from warden.evaluation.manifest import (
    ManifestError,
    RunManifest,
    environment_facts,
    sha256_text,
)

H = "ab" * 32  # a well-formed sha256


def _fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "models": [{"id": "smollm2-135m-instruct", "gguf_sha256": "cd" * 32},
                   {"id": "all-minilm-l6-v2", "role": "embedder"}],
        "config_hash": H,
        "corpora": [{"corpus": "docs", "ingest_run_id": "run_1", "active_version": 3,
                     "merkle_root": "ef" * 32},
                    {"corpus": "alpha", "ingest_run_id": "run_2", "active_version": 1,
                     "merkle_root": "01" * 32}],
        "fusion": {"lexical_weight": 1.0, "vector_weight": 1.0, "rrf_k": 60,
                   "per_doc_cap": 2},
        "thresholds": {"recall_min": 0.45, "latency_max": 30.0},
        "datasets": [{"id": "rag-qa-heldout", "sha256": "12" * 32, "items": 200}],
        "few_shot_ids": ["fs-9", "fs-2"],
        "prompt_hash": sha256_text("Answer from the context.\n{context}\n{question}"),
        "judge": {"extractor": "llama3-70b", "checker": "llama3-70b",
                  "tool": "ragchecker==0.1.9", "settings": {"joint_check": True}},
        "seed": 42, "temperature": 0.0, "cot": False, "cache_enabled": False,
        "package_versions": {"warden": "0.1.0"},
        "git_commit": "0123456789abcdef0123456789abcdef01234567", "git_dirty": False,
    }
    fields.update(changes)
    return fields


def test_hash_is_sha256_of_the_canonical_json() -> None:
    manifest = RunManifest.model_validate(_fields())
    canonical = manifest.canonical_json()
    assert " " not in canonical and "\n" not in canonical  # no whitespace between tokens
    assert list(json.loads(canonical)) == sorted(json.loads(canonical))
    assert manifest.manifest_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert "manifest_hash" not in json.loads(canonical)


def test_set_like_lists_do_not_change_the_hash_but_content_and_prompt_order_do() -> None:
    base = RunManifest.model_validate(_fields())
    reordered = RunManifest.model_validate(_fields(
        models=list(reversed(_fields()["models"])),
        corpora=list(reversed(_fields()["corpora"]))))
    assert reordered.manifest_hash == base.manifest_hash
    assert [c.corpus for c in base.corpora] == ["alpha", "docs"]
    assert RunManifest.model_validate(_fields(few_shot_ids=["fs-2", "fs-9"])).manifest_hash \
        != base.manifest_hash
    assert RunManifest.model_validate(_fields(seed=43)).manifest_hash != base.manifest_hash
    assert RunManifest.model_validate(_fields(temperature=0.2)).manifest_hash \
        != base.manifest_hash


def test_json_and_yaml_round_trips_keep_the_hash() -> None:
    manifest = RunManifest.model_validate(_fields())
    as_json = manifest.to_json()
    assert json.loads(as_json)["manifest_hash"] == manifest.manifest_hash
    assert RunManifest.from_json(as_json) == manifest
    assert RunManifest.from_yaml(manifest.to_yaml()).manifest_hash == manifest.manifest_hash


def test_an_edited_manifest_is_detected() -> None:
    document = RunManifest.model_validate(_fields()).document()
    document["seed"] = 7
    with pytest.raises(ManifestError, match=r"manifest_hash: stored .* edited"):
        RunManifest.from_document(document)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"config_hash": "XYZ"}, "config_hash"),
    ({"models": []}, "models"),
    ({"datasets": [{"id": "d", "sha256": H}, {"id": "d", "sha256": H}]},
     "dataset id 'd' appears twice"),
    ({"few_shot_ids": ["a", "a"]}, "few-shot id 'a' appears twice"),
    ({"temperature": -0.1}, "temperature"),
    ({"corpora": [{"corpus": "c", "ingest_run_id": "r", "active_version": 0,
                   "merkle_root": H}]}, "corpora.0.active_version"),
    ({"git_commit": "main"}, "git_commit"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_manifests_name_the_field(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        RunManifest.from_document(_fields(**changes))
    assert fragment in str(caught.value)


def test_environment_facts_reads_versions_and_the_commit(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("x")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "m"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    facts = environment_facts(tmp_path, ["pydantic", "no-such-package-xyz"])
    assert facts.git_commit == head and facts.git_dirty is False
    assert facts.package_versions["no-such-package-xyz"] == "not installed"
    assert facts.package_versions["pydantic"][0].isdigit()
    (tmp_path / "f.txt").write_text("changed")
    assert environment_facts(tmp_path, []).git_dirty is True
    outside = environment_facts(tmp_path / "absent", [])
    assert outside.git_commit is None and outside.git_dirty is None
