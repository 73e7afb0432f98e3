"""Backups: a round trip onto an empty store, and corruption detection."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, FakeEmbedder

from warden.backup.archive import (
    MANIFEST,
    MANIFEST_SUM,
    BackupError,
    BackupSection,
    create_backup,
    list_backups,
)
from warden.backup.restore import restore_backup, verify_backup
from warden.config import canonical_json, config_hash, load_config
from warden.config.retrieval import RetrievalConfig
from warden.retrieval.service import Retrieval
from warden.safety.switches.store import Switches
from warden.store.db import Database, open_database
from warden.store.keys import KeyStore

QUERIES = ["descale the kettle", "returns policy receipt", "bicycle chain", "warranty claim",
           "green tea temperature"]


def _answers(retrieval: Retrieval, **kwargs: Any) -> list[list[tuple[str, float]]]:
    return [[(h.chunk_id, h.score) for h in retrieval.search(q, k=5, **kwargs).hits]
            for q in QUERIES]


def _backup(retrieval: Retrieval, **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    cfg = load_config(environ={})
    backup_id, manifest = create_backup(retrieval.db, retrieval.indexes,
                                        config_json=canonical_json(cfg),
                                        config_hash=config_hash(cfg), **kwargs)
    return Path(retrieval.config.data_dir) / "backups" / backup_id, manifest


@pytest.fixture()
def populated(retrieval: Retrieval) -> tuple[Retrieval, str]:
    retrieval.ingest([DATA / "v1"])
    retrieval.activate(retrieval.ingest([DATA / "v2"]).version, "t")
    retrieval.rollback(None, "t")
    retrieval.ingest([DATA / "v1", DATA / "v2"], corpus="both")
    _, secret = KeyStore(retrieval.db).create("alice", "user", "default")
    switches = Switches(retrieval.db)
    switches.set("tool:web_search", False, "cli", "under review")
    switches.set("retrieval", False, "trigger:poisoned-corpus", "7 quarantined chunks",
                 incident_id="inc_0123456789ab")
    return retrieval, secret


def _empty_target(tmp_path: Path) -> tuple[Database, Retrieval]:
    db = open_database(f"sqlite:///{tmp_path}/restored/warden.db")
    config = RetrievalConfig(data_dir=str(tmp_path / "restored" / "data"),
                             chunking={"tokenizer": "regex"})
    return db, Retrieval(db, config, embedder=FakeEmbedder())


@pytest.mark.parametrize("index_files", [True, False])
def test_restore_onto_an_empty_store_reproduces_everything(
        populated: tuple[Retrieval, str], tmp_path: Path, index_files: bool) -> None:
    source, secret = populated
    directory, manifest = _backup(source, description="nightly",
                                  include_index_files=index_files)
    assert verify_backup(directory).ok
    assert list_backups(directory.parent)[0]["description"] == "nightly"
    assert manifest["sections"] == {"switches": "included", "rollouts": "included",
                                    "advisory": "included"}

    db, target = _empty_target(tmp_path)
    report = restore_backup(db, target.indexes, directory,
                            current_config_hash=manifest["config_hash"])
    assert report.config_matches and report.config_snapshot.exists()
    assert target.versions.pointers() == source.versions.pointers() == report.pointers
    for version in source.list_versions():
        assert target.versions.get(version.id).merkle_root == version.merkle_root
    assert _answers(target) == _answers(source)
    assert _answers(target, corpus="both") == _answers(source, corpus="both")
    when = source.versions.history("default")[0].at
    assert _answers(target, as_of=when) == _answers(source, as_of=when)
    assert [(e.seq, e.version_id, e.action) for e in target.versions.history("default")] == \
        [(e.seq, e.version_id, e.action) for e in source.versions.history("default")]
    assert KeyStore(db).authenticate(secret).name == "alice"  # hashed keys came along
    before, after = Switches(source.db), Switches(db)         # kill switches came along
    assert [s.plain() for s in after.all()] == [s.plain() for s in before.all()]
    assert not after.is_on("retrieval") and not after.is_on("tool:web_search")
    assert after.state("retrieval").incident_id == "inc_0123456789ab"
    assert after.history() == before.history()
    after.set("tools", False, "cli", "a flip after the restore gets a fresh id")
    assert after.history()[0]["id"] > before.history()[0]["id"]
    assert target.health().ok


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_damaged_file_is_detected_and_restore_refuses(
        populated: tuple[Retrieval, str], tmp_path: Path) -> None:
    source, _ = populated
    directory, _ = _backup(source)
    _flip_a_byte(directory / "data" / "retrieval_chunks.jsonl")
    report = verify_backup(directory)
    assert report.problems == ["data/retrieval_chunks.jsonl: checksum mismatch (the file was "
                               "changed or damaged)"]
    db, target = _empty_target(tmp_path)
    with pytest.raises(BackupError, match="failed verification, refusing to restore"):
        restore_backup(db, target.indexes, directory, current_config_hash="x")
    assert target.list_versions() == []  # nothing was written


def test_a_missing_file_or_edited_manifest_is_detected(populated: tuple[Retrieval, str]
                                                       ) -> None:
    source, _ = populated
    directory, _ = _backup(source)
    (directory / "config.json").unlink()
    assert verify_backup(directory).problems == ["config.json: missing"]
    body = (directory / MANIFEST).read_text().replace('"nightly"', '"edited"')
    (directory / MANIFEST).write_text(body + " ")
    assert "manifest.json does not match" in verify_backup(directory).problems[0]


def test_content_is_checked_even_when_checksums_were_recomputed(
        populated: tuple[Retrieval, str]) -> None:
    source, _ = populated
    directory, _ = _backup(source, include_index_files=False)
    chunks = directory / "data" / "retrieval_chunks.jsonl"
    lines = chunks.read_text().splitlines()
    row = json.loads(lines[0])
    row["text"] += " tampered"
    lines[0] = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    chunks.write_text("\n".join(lines) + "\n")
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"]["data/retrieval_chunks.jsonl"] = {
        "sha256": hashlib.sha256(chunks.read_bytes()).hexdigest(),
        "bytes": chunks.stat().st_size}
    body = json.dumps(manifest, indent=1, sort_keys=True).encode()
    (directory / MANIFEST).write_bytes(body)
    (directory / MANIFEST_SUM).write_text(hashlib.sha256(body).hexdigest() + "\n")
    problems = verify_backup(directory).problems
    assert any("does not match its address" in p for p in problems)


def test_restore_refuses_a_store_that_is_not_empty(populated: tuple[Retrieval, str]) -> None:
    source, _ = populated
    directory, manifest = _backup(source)
    with pytest.raises(BackupError, match="restore needs an empty store"):
        restore_backup(source.db, source.indexes, directory,
                       current_config_hash=manifest["config_hash"])


def test_other_modules_state_rides_along_through_a_section(
        populated: tuple[Retrieval, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    restored: list[Any] = []
    import warden.backup.archive as archive_module
    import warden.backup.restore as restore_module

    sections = (BackupSection("switches", dump=lambda db: {"retrieval": "off"},
                              restore=lambda db, state: restored.append(state)),)
    monkeypatch.setattr(archive_module, "SECTIONS", sections)
    monkeypatch.setattr(restore_module, "SECTIONS", sections)
    source, _ = populated
    directory, manifest = _backup(source)
    assert manifest["sections"] == {"switches": "included"}
    db, target = _empty_target(tmp_path)
    restore_backup(db, target.indexes, directory, current_config_hash="other")
    assert restored == [{"retrieval": "off"}]
