"""Backups of the store: chunks, embeddings, index versions, pointer + history, API keys
(hashed, as stored), a config snapshot, and the index files; with a checksummed manifest.

    <data_dir>/backups/<id>/manifest.json      what is inside, with a SHA-256 per file
    <data_dir>/backups/<id>/manifest.sha256    the manifest's own checksum
    <data_dir>/backups/<id>/data/*.jsonl       one file per table
    <data_dir>/backups/<id>/config.json        the effective config (canonical JSON)
    <data_dir>/backups/<id>/sections/*.json    state owned by other modules (kill switches)
    <data_dir>/backups/<id>/indexes/<v>/...    index files, so a restore answers identically
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select

from warden.backup.table_section import dump_tables, restore_tables
from warden.policy.tables import AdvisoryModeEventRow, AdvisoryModeRow, AdvisoryVariantRow
from warden.retrieval.index import IndexManager
from warden.retrieval.snapshot import HashingWriter, dump_rows, file_digest
from warden.retrieval.tables import (
    RetrievalChunk,
    RetrievalEmbedding,
    RetrievalPointer,
    RetrievalPointerEvent,
    RetrievalVersion,
    RetrievalVersionChunk,
)
from warden.retrieval.versions import READY
from warden.rollout.tables import CanaryVerdictRow, RolloutEventRow, RolloutStateRow
from warden.safety.switches import backup as switch_backup
from warden.store.db import Database
from warden.store.models import ApiKey, Base

FORMAT = 1
MANIFEST, MANIFEST_SUM = "manifest.json", "manifest.sha256"
# Restore order: parents before children (foreign keys are on in SQLite and PostgreSQL).
TABLES: tuple[Table, ...] = tuple(Base.metadata.tables[t.__tablename__] for t in (
    RetrievalChunk, RetrievalEmbedding, RetrievalVersion, RetrievalVersionChunk,
    RetrievalPointer, RetrievalPointerEvent, ApiKey))


class BackupError(Exception):
    """A backup that cannot be made, found, verified or restored; the message says why."""


@dataclass(frozen=True)
class BackupSection:
    name: str
    dump: Callable[[Database], Any]           # returns JSON-able state
    restore: Callable[[Database, Any], None]  # puts it back (the store is empty)


# State other modules own, dumped beside the tables. Backups sit above retrieval and safety,
# so they name their sections here rather than letting those modules register themselves.
def _tables_section(name: str, rows: tuple[type[Base], ...]) -> BackupSection:
    tables = tuple(Base.metadata.tables[r.__tablename__] for r in rows)
    return BackupSection(name, lambda db: dump_tables(db, tables),
                         lambda db, data: restore_tables(db, tables, data))


SECTIONS: tuple[BackupSection, ...] = (
    BackupSection("switches", switch_backup.dump, switch_backup.restore),
    # Which arm each rollout serves, with the history and canary verdicts behind it (live
    # traffic samples and schedule leases are not release state: they are left out).
    _tables_section("rollouts", (RolloutStateRow, RolloutEventRow, CanaryVerdictRow)),
    # Each action type's advisory mode and its history, and the prompt variants.
    _tables_section("advisory", (AdvisoryModeRow, AdvisoryModeEventRow, AdvisoryVariantRow)),
)


@dataclass
class VerifyReport:
    backup_id: str
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def backups_root(data_dir: str | Path) -> Path:
    return Path(data_dir) / "backups"


def _new_id() -> str:
    return f"bk_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}_{secrets.token_hex(3)}"


def _ready_ids(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(RetrievalVersion.id).where(
            RetrievalVersion.state == READY).order_by(RetrievalVersion.id)))


def _dump_tables(db: Database, target: Path, ready: list[int]) -> dict[str, Any]:
    v, vc = RetrievalVersion.__table__, RetrievalVersionChunk.__table__
    used_chunks = select(vc.c.chunk_hash).where(vc.c.version_id.in_(ready))
    used_embeds = select(vc.c.embed_key).where(vc.c.version_id.in_(ready))
    where = {
        "retrieval_chunks": RetrievalChunk.__table__.c.hash.in_(used_chunks),
        "retrieval_embeddings": RetrievalEmbedding.__table__.c.key.in_(used_embeds),
        "retrieval_versions": v.c.id.in_(ready),
        "retrieval_version_chunks": vc.c.version_id.in_(ready),
    }
    files: dict[str, Any] = {}
    with db.engine.connect() as connection:
        for table in TABLES:
            name = f"data/{table.name}.jsonl"
            files[name] = dump_rows(connection, table, target / name,
                                    where=where.get(table.name))
    return files


def _consistent_pointers(db: Database) -> None:
    """Wait out a flip in progress: every pointer must equal its last history event."""
    for _ in range(50):
        with db.session() as session:
            pointers = {p.corpus: p.version_id for p in session.scalars(select(RetrievalPointer))}
            last = dict(session.execute(
                select(RetrievalPointerEvent.corpus, RetrievalPointerEvent.version_id)
                .order_by(RetrievalPointerEvent.seq)).all())
        if pointers == last:
            return
    raise BackupError("the active pointers kept changing during the backup; try again")


def create_backup(db: Database, indexes: IndexManager, *, config_json: str, config_hash: str,
                  description: str | None = None, include_index_files: bool = True,
                  root: Path | None = None) -> tuple[str, dict[str, Any]]:
    """Write a new backup and return (id, manifest)."""
    root = root or backups_root(indexes.config.data_dir)
    root.mkdir(parents=True, exist_ok=True)
    backup_id = _new_id()
    staging = root / f".tmp-{backup_id}"
    staging.mkdir()
    try:
        _consistent_pointers(db)
        ready = _ready_ids(db)  # read after the pointers: every pointer target is included
        files = _dump_tables(db, staging, ready)
        writer = HashingWriter(staging / "config.json")
        writer.write(config_json.encode("utf-8"))
        files["config.json"] = writer.close()
        sections: dict[str, str] = {}
        for section in SECTIONS:
            writer = HashingWriter(staging / "sections" / f"{section.name}.json")
            writer.write(json.dumps(section.dump(db), sort_keys=True).encode("utf-8"))
            files[f"sections/{section.name}.json"] = writer.close()
            sections[section.name] = "included"
        roots = {str(v.id): v.merkle_root for v in indexes.versions.list() if v.id in ready}
        if include_index_files:
            for version_id in ready:
                source = indexes.load(version_id).directory
                target = staging / "indexes" / str(version_id)
                shutil.copytree(source, target)
                for path in sorted(p for p in target.rglob("*") if p.is_file()):
                    files[str(path.relative_to(staging))] = file_digest(path)
        manifest = {
            "format": FORMAT, "id": backup_id, "created_at": datetime.now(UTC).isoformat(),
            "description": description, "config_hash": config_hash,
            "schema_revision": schema_revision(db), "versions": ready,
            "merkle_roots": roots, "pointers": indexes.versions.pointers(),
            "sections": sections, "index_files": include_index_files,
            "files": dict(sorted(files.items())),
        }
        body = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        (staging / MANIFEST).write_bytes(body)
        (staging / MANIFEST_SUM).write_text(sha256_hex(body) + "\n")
        os.replace(staging, root / backup_id)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return backup_id, manifest


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def schema_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        from sqlalchemy import text

        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def list_backups(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(root.glob("bk_*")) if root.exists() else []:
        try:
            out.append(json.loads((path / MANIFEST).read_text()))
        except (OSError, ValueError):
            out.append({"id": path.name, "created_at": None, "description": "(unreadable "
                        "manifest)", "files": {}})
    return out
