"""Verify a backup (checksums, then content: chunk addresses and Merkle roots) and restore
it onto an empty store. A backup that fails verification is never restored.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from warden.backup.archive import (
    MANIFEST,
    MANIFEST_SUM,
    SECTIONS,
    TABLES,
    BackupError,
    VerifyReport,
    schema_revision,
    sha256_hex,
)
from warden.retrieval.index import IndexManager
from warden.retrieval.merkle import merkle_root
from warden.retrieval.normalize import text_hash
from warden.retrieval.snapshot import file_digest, load_rows, read_rows
from warden.store.db import Database

_BY_NAME = {t.name: t for t in TABLES}


def verify_backup(directory: Path) -> VerifyReport:
    """Every problem found; an empty list means the backup is intact and consistent."""
    report = VerifyReport(directory.name)
    try:
        body = (directory / MANIFEST).read_bytes()
        recorded = (directory / MANIFEST_SUM).read_text().strip()
    except OSError as exc:
        report.problems.append(f"cannot read the manifest: {exc.strerror or exc}")
        return report
    if sha256_hex(body) != recorded:
        report.problems.append("manifest.json does not match manifest.sha256")
        return report
    manifest = report.manifest = json.loads(body)
    for name, expected in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            report.problems.append(f"{name}: missing")
        elif file_digest(path) != {"sha256": expected["sha256"], "bytes": expected["bytes"]}:
            report.problems.append(f"{name}: checksum mismatch (the file was changed or "
                                   "damaged)")
    if report.problems:
        return report
    _verify_content(directory, manifest, report)
    return report


def _verify_content(directory: Path, manifest: dict[str, Any], report: VerifyReport) -> None:
    """Recompute what the checksums cannot vouch for: addresses and Merkle roots."""
    data = directory / "data"
    for row in read_rows(_BY_NAME["retrieval_chunks"], data / "retrieval_chunks.jsonl"):
        if text_hash(row["text"]) != row["hash"]:
            report.problems.append(f"chunk {row['hash'][:12]}: text does not match its "
                                   "address")
    members: dict[int, list[str]] = defaultdict(list)
    for row in read_rows(_BY_NAME["retrieval_version_chunks"],
                         data / "retrieval_version_chunks.jsonl"):
        members[row["version_id"]].append(row["chunk_hash"])
    versions = {row["id"]: row for row in read_rows(_BY_NAME["retrieval_versions"],
                                                    data / "retrieval_versions.jsonl")}
    for version_id, row in versions.items():
        root = merkle_root(members.get(version_id, []))
        if root != row["merkle_root"] or root != manifest["merkle_roots"].get(str(version_id)):
            report.problems.append(f"version {version_id}: Merkle root does not match its "
                                   "chunks")
    for corpus, version_id in manifest["pointers"].items():
        if version_id not in versions:
            report.problems.append(f"pointer '{corpus}' names version {version_id}, which "
                                   "is not in the backup")


@dataclass(frozen=True)
class RestoreReport:
    backup_id: str
    rows: dict[str, int]
    versions: list[int]
    pointers: dict[str, int]
    config_snapshot: Path
    config_matches: bool


def _existing_rows(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        counts = {t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in TABLES}
    return {name: n for name, n in counts.items() if n}


def restore_backup(db: Database, indexes: IndexManager, directory: Path, *,
                   current_config_hash: str) -> RestoreReport:
    report = verify_backup(directory)
    if not report.ok:
        shown = "; ".join(report.problems[:5])
        raise BackupError(f"backup {directory.name} failed verification, refusing to restore: "
                          f"{shown}")
    manifest = report.manifest
    revision = schema_revision(db)
    if manifest.get("schema_revision") != revision:
        raise BackupError(f"backup {directory.name} was made at schema revision "
                          f"{manifest.get('schema_revision')}, this store is at {revision}")
    busy = _existing_rows(db)
    if busy:
        listed = ", ".join(f"{name}: {n}" for name, n in sorted(busy.items()))
        raise BackupError(f"restore needs an empty store, and this one has rows ({listed}); "
                          "point store.url at a new database")

    rows: dict[str, int] = {}
    with db.engine.begin() as connection:  # all tables or none
        for table in TABLES:
            rows[table.name] = load_rows(connection, table,
                                         directory / "data" / f"{table.name}.jsonl")
    if manifest.get("index_files"):
        indexes.root.mkdir(parents=True, exist_ok=True)
        for version_id in manifest["versions"]:
            staging = indexes.root / f".restore-{version_id}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(directory / "indexes" / str(version_id), staging)
            target = indexes.path(version_id)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
    for section in SECTIONS:
        path = directory / "sections" / f"{section.name}.json"
        if path.exists():
            section.restore(db, json.loads(path.read_text()))
    snapshot = Path(indexes.config.data_dir) / f"restored-config-{directory.name}.json"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(directory / "config.json", snapshot)
    return RestoreReport(directory.name, rows, list(manifest["versions"]),
                         dict(manifest["pointers"]), snapshot,
                         manifest.get("config_hash") == current_config_hash)
