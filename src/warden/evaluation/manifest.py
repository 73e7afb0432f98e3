"""The run manifest: everything that decides an eval's numbers, frozen and hashed.

Two runs with the same manifest_hash used the same models (by GGUF sha256), config
(CONFIG_HASH), index versions (ingest run, active version, Merkle root), fusion settings,
thresholds, datasets (by sha256), few-shot ids, prompt, judge, sampling and code. The hash is
the SHA-256 of the canonical JSON (keys sorted, no whitespace, UTF-8) of every field but
itself; lists that are sets (models, corpora, datasets) are kept sorted so their order in the
input cannot change it, while few_shot_ids keep their order (it is the prompt's order).

Pure, except `environment_facts`, which reads package versions and the git commit.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic import field_validator as validates

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, StringConstraints(min_length=1)]
Setting = float | int | str | bool | None


class ManifestError(ValueError):
    """A manifest document is invalid or its stored hash does not match its content."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelPin(_Frozen):
    id: Name
    role: Name = "generator"  # generator | embedder | reranker | ...
    gguf_sha256: Sha256 | None = Field(None, description="SHA-256 of the GGUF file; None "
                                       "for a model served upstream (pinned by id only)")


class CorpusPin(_Frozen):
    corpus: Name
    ingest_run_id: Name
    active_version: int = Field(ge=1)
    merkle_root: Sha256


class DatasetPin(_Frozen):
    id: Name
    sha256: Sha256
    items: int | None = Field(None, ge=0)


class JudgePin(_Frozen):
    """The claim extractor and checker that labelled the answers (RAGChecker's models)."""

    extractor: Name
    checker: Name
    tool: Name = "ragchecker"  # with its version, e.g. "ragchecker==0.1.9"
    settings: dict[str, Setting] = Field(default_factory=dict)


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value!r} appears twice")
        seen.add(value)


class RunManifest(_Frozen):
    schema_version: Literal[1] = 1
    models: tuple[ModelPin, ...] = Field(min_length=1)
    config_hash: Sha256
    corpora: tuple[CorpusPin, ...] = ()
    fusion: dict[str, Setting] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)
    datasets: tuple[DatasetPin, ...] = Field(min_length=1)
    few_shot_ids: tuple[str, ...] = ()
    prompt_hash: Sha256
    judge: JudgePin | None = None
    seed: int
    temperature: float = Field(ge=0)
    cot: bool
    cache_enabled: bool
    package_versions: dict[str, str] = Field(default_factory=dict)
    git_commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")] \
        | None = None
    git_dirty: bool | None = None

    @validates("models")
    @classmethod
    def _sorted_models(cls, models: tuple[ModelPin, ...]) -> tuple[ModelPin, ...]:
        _unique((f"{m.role}:{m.id}" for m in models), "model (role:id)")
        return tuple(sorted(models, key=lambda m: (m.role, m.id)))

    @validates("corpora")
    @classmethod
    def _sorted_corpora(cls, corpora: tuple[CorpusPin, ...]) -> tuple[CorpusPin, ...]:
        _unique((c.corpus for c in corpora), "corpus")
        return tuple(sorted(corpora, key=lambda c: c.corpus))

    @validates("datasets")
    @classmethod
    def _sorted_datasets(cls, datasets: tuple[DatasetPin, ...]) -> tuple[DatasetPin, ...]:
        _unique((d.id for d in datasets), "dataset id")
        return tuple(sorted(datasets, key=lambda d: d.id))

    @validates("few_shot_ids")
    @classmethod
    def _distinct_examples(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        _unique(ids, "few-shot id")
        return ids

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @property
    def manifest_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def document(self) -> dict[str, Any]:
        """Every field plus manifest_hash, JSON-ready."""
        return {**self.model_dump(mode="json"), "manifest_hash": self.manifest_hash}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.document(), sort_keys=True, indent=indent, ensure_ascii=False)

    def to_yaml(self) -> str:
        text: str = yaml.safe_dump(self.document(), sort_keys=True, allow_unicode=True)
        return text

    @classmethod
    def from_document(cls, data: Any) -> RunManifest:
        """Validate a decoded manifest; a stored manifest_hash must match the content."""
        if not isinstance(data, dict):
            raise ManifestError(f"manifest: expected a mapping, got {type(data).__name__}")
        fields = dict(data)
        stored = fields.pop("manifest_hash", None)
        try:
            manifest = cls.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: "
                                 f"{e['msg']}" for e in exc.errors())
            raise ManifestError(f"manifest: {problems}") from None
        if stored is not None and stored != manifest.manifest_hash:
            raise ManifestError(f"manifest_hash: stored {stored} but the content hashes to "
                                f"{manifest.manifest_hash}; the manifest was edited after "
                                "it was written")
        return manifest

    @classmethod
    def from_json(cls, text: str) -> RunManifest:
        try:
            return cls.from_document(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest: not valid JSON ({exc})") from None

    @classmethod
    def from_yaml(cls, text: str) -> RunManifest:
        try:
            return cls.from_document(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise ManifestError(f"manifest: not valid YAML ({exc})") from None


def sha256_text(text: str) -> str:
    """The prompt_hash of a prompt template (or any text): SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EnvironmentFacts:
    package_versions: dict[str, str]
    git_commit: str | None
    git_dirty: bool | None


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def environment_facts(repo: Path, packages: Iterable[str]) -> EnvironmentFacts:
    """Installed versions of `packages` ("not installed" when absent) and the git commit of
    `repo` (None outside a git checkout), with whether tracked files differ from it."""
    versions: dict[str, str] = {}
    for package in sorted(set(packages)):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    head = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=no") if head else None
    return EnvironmentFacts(versions, head.strip() if head else None,
                            None if status is None else bool(status.strip()))
