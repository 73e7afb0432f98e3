"""Per-version index files under <data_dir>/indexes/<version>/, derived from the database.

The database is the source of truth; these files are a cache that any replica rebuilds when
they are missing or do not match the version (id and Merkle root). A build writes into a
temporary directory and renames it into place, so a reader never sees half an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warden.config.retrieval import RetrievalConfig
from warden.retrieval.lexical import LexicalIndex, make_lexical
from warden.retrieval.normalize import text_hash
from warden.retrieval.store import ChunkStore, Placement
from warden.retrieval.vector import VectorIndex, engine_for, make_index
from warden.retrieval.versions import VersionError, VersionStore

FORMAT = 1
MANIFEST = "manifest.json"
ROWS = "rows.jsonl"
DIM = 384


@dataclass(frozen=True)
class Row:
    """What search returns for an index row besides the text (fetched by hash)."""

    chunk_hash: str
    doc_id: str
    source: str
    title: str
    section: str
    meta: dict[str, Any]
    lexical_sha256: str  # of the text BM25 indexed; the leakage check compares it to the hash


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class VersionIndex:
    version_id: int
    corpus: str
    merkle_root: str
    rows: list[Row]
    lexical: LexicalIndex
    vector: VectorIndex
    manifest: dict[str, Any]
    directory: Path


class IndexManager:
    def __init__(self, chunks: ChunkStore, versions: VersionStore, config: RetrievalConfig,
                 *, cache_size: int = 3) -> None:
        self.chunks = chunks
        self.versions = versions
        self.config = config
        self.root = Path(config.data_dir) / "indexes"
        self._cache: OrderedDict[int, VersionIndex] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._build_locks: dict[int, threading.Lock] = {}

    def path(self, version_id: int) -> Path:
        return self.root / str(version_id)

    # building ------------------------------------------------------------------------
    def build(self, version_id: int, *, corpus: str, merkle_root: str, placements:
              list[Placement] | None = None, model: str = "") -> Path:
        """Write the index files for a version from the database; return their directory."""
        if placements is None:
            placements = self.chunks.placements(version_id)
        # Never index quarantined text. Rows in one canonical order, whoever builds: ties in
        # scores break by row, so a rebuild (another replica, a restore) answers identically.
        served = sorted((p for p in placements if not p.quarantined),
                        key=lambda p: (p.doc_id, p.ordinal, p.chunk_hash))
        texts = self.chunks.texts([p.chunk_hash for p in served])
        bodies = [texts[p.chunk_hash] for p in served]
        vectors = (self.chunks.vectors([str(p.embed_key) for p in served], DIM) if served
                   else np.zeros((0, DIM), np.float32))
        vector_engine = engine_for(len(served), self.config.vector)
        lexical_engine = self.config.lexical.engine

        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".build-{version_id}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            lexical = make_lexical(lexical_engine)
            lexical.build(bodies)
            vector = make_index(vector_engine, self.config.vector, DIM)
            vector.build(vectors)
            files = [*lexical.save(staging), *vector.save(staging)]
            with (staging / ROWS).open("w", encoding="utf-8") as out:
                for p, body in zip(served, bodies, strict=True):
                    row = Row(p.chunk_hash, p.doc_id, p.source, p.title, p.section, p.meta,
                              text_hash(body))
                    out.write(json.dumps(asdict(row), sort_keys=True, ensure_ascii=False))
                    out.write("\n")
            files.append(ROWS)
            manifest = {
                "format": FORMAT, "version_id": version_id, "corpus": corpus,
                "merkle_root": merkle_root, "count": len(served), "dim": DIM,
                "embedding_model": model, "lexical_engine": lexical_engine,
                "vector_engine": vector_engine,
                "vector_params": self.config.vector.model_dump(),
                "files": {name: file_sha256(staging / name) for name in sorted(files)},
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            target = self.path(version_id)
            if target.exists():
                shutil.rmtree(target)  # stale or mismatched files; the DB decides
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.path(version_id)

    # loading -------------------------------------------------------------------------
    def _valid_manifest(self, version_id: int, merkle_root: str) -> dict[str, Any] | None:
        try:
            manifest = json.loads((self.path(version_id) / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        ok = (manifest.get("format") == FORMAT and manifest.get("version_id") == version_id
              and manifest.get("merkle_root") == merkle_root
              and all((self.path(version_id) / f).exists() for f in manifest.get("files", {})))
        return manifest if ok else None

    def _open(self, version_id: int, manifest: dict[str, Any]) -> VersionIndex:
        directory = self.path(version_id)
        with (directory / ROWS).open(encoding="utf-8") as rows_file:
            rows = [Row(**json.loads(line)) for line in rows_file]
        count, dim = manifest["count"], manifest["dim"]
        lexical = make_lexical(manifest["lexical_engine"])
        lexical.load(directory, count)
        vector = make_index(manifest["vector_engine"], self.config.vector, dim)
        vector.load(directory, count, dim)
        return VersionIndex(version_id, manifest["corpus"], manifest["merkle_root"], rows,
                            lexical, vector, manifest, directory)

    def load(self, version_id: int) -> VersionIndex:
        """The index of a ready version: from memory, from disk, or rebuilt from the DB."""
        with self._lock:
            cached = self._cache.get(version_id)
            if cached is not None:
                self._cache.move_to_end(version_id)
                return cached
            build_lock = self._build_locks.setdefault(version_id, threading.Lock())
        with build_lock:
            with self._lock:
                if version_id in self._cache:
                    return self._cache[version_id]
            info = self.versions.require_ready(version_id)
            assert info.merkle_root is not None
            manifest = self._valid_manifest(version_id, info.merkle_root)
            if manifest is None:
                self.build(version_id, corpus=info.corpus, merkle_root=info.merkle_root,
                           model=str(info.settings.get("embedding_model", "")))
                manifest = self._valid_manifest(version_id, info.merkle_root)
                if manifest is None:
                    raise VersionError(f"index files for version {version_id} are invalid "
                                       "right after a rebuild")
            index = self._open(version_id, manifest)
        with self._lock:
            self._cache[version_id] = index
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return index

    def verify_files(self, version_id: int) -> list[str]:
        """Files whose checksum differs from the manifest (empty list: all intact)."""
        directory = self.path(version_id)
        manifest = json.loads((directory / MANIFEST).read_text())
        return [name for name, digest in manifest["files"].items()
                if not (directory / name).exists() or file_sha256(directory / name) != digest]
