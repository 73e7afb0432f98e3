"""Retrieval metadata on PostgreSQL: versions, the pointer shared by replicas, temporal
queries, concurrent ingests, and a backup restored onto a fresh database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.test_retrieval_cli import DATA, QUERIES
from tests.support.postgres import throwaway_databases
from warden.backup.archive import create_backup
from warden.backup.restore import restore_backup
from warden.config import canonical_json, config_hash, load_config
from warden.config.retrieval import RetrievalConfig
from warden.retrieval.embedder import default_embedder
from warden.retrieval.service import Retrieval
from warden.store.audit import AuditLog
from warden.store.db import Database, open_database

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def pg_urls() -> Iterator[tuple[str, str]]:
    with throwaway_databases(2) as urls:
        yield urls[0], urls[1]


@pytest.fixture(scope="module")
def embedder():
    return default_embedder()


def _replica(url: str, data_dir: Path, embedder) -> tuple[Database, Retrieval]:
    db = open_database(url)
    return db, Retrieval(db, RetrievalConfig(data_dir=str(data_dir)), embedder=embedder,
                         audit=AuditLog(db))


def _answers(retrieval: Retrieval, **kwargs) -> list[list[tuple[str, float]]]:
    return [[(h.chunk_id, h.score) for h in retrieval.search(q, k=5, **kwargs).hits]
            for q in QUERIES]


def test_versions_pointer_and_temporal_queries_on_postgres(
        pg_urls: tuple[str, str], tmp_path_factory: pytest.TempPathFactory, embedder) -> None:
    url, fresh_url = pg_urls
    db_a, a = _replica(url, tmp_path_factory.mktemp("replica-a"), embedder)
    db_b, b = _replica(url, tmp_path_factory.mktemp("replica-b"), embedder)
    first = a.ingest([DATA / "v1"], actor="a")
    assert first.activated and first.quarantined == 2
    v1_answers = _answers(a)
    assert _answers(b) == v1_answers  # replica b rebuilt its index files from the DB
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)

    with ThreadPoolExecutor(2) as pool:  # two replicas ingest at once: distinct versions
        reports = list(pool.map(lambda r: r.ingest([DATA / "v2"], actor="x"), (a, b)))
    assert sorted(r.version for r in reports) == [2, 3]
    assert reports[0].merkle_root == reports[1].merkle_root
    assert a.versions.active("default") == 1

    a.activate(2, "a")
    deadline = time.monotonic() + 1.0  # replica b honours the flip within a second
    while b.search(QUERIES[1]).version != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert b.search(QUERIES[1], as_of=between).version == 1
    assert b.rollback(None, "b").current == 1
    assert _answers(a) == v1_answers
    assert a.health().ok
    checked, problem = AuditLog(db_a).verify()
    assert problem is None and checked >= 5

    cfg = load_config(environ={})
    backup_id, manifest = create_backup(db_a, a.indexes, config_json=canonical_json(cfg),
                                        config_hash=config_hash(cfg))
    db_c, c = _replica(fresh_url, tmp_path_factory.mktemp("restored"), embedder)
    restore_backup(db_c, c.indexes, Path(a.config.data_dir) / "backups" / backup_id,
                   current_config_hash=manifest["config_hash"])
    assert _answers(c) == v1_answers
    assert {v.id: v.merkle_root for v in c.list_versions()} == \
        {v.id: v.merkle_root for v in a.list_versions() if v.state == "ready"}
    for db in (db_a, db_b, db_c):
        db.dispose()
