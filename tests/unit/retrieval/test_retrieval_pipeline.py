"""Ingest → search → context on SQLite with the fake embedder: the behaviour end to end."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import DATA, FakeEmbedder

from warden.retrieval.index import ROWS
from warden.retrieval.ingest import IngestError
from warden.retrieval.merkle import merkle_root
from warden.retrieval.service import Retrieval
from warden.retrieval.versions import VersionError
from warden.store.audit import AuditLog


def words(text: str) -> int:
    return len(text.split())


def test_ingest_reports_dedup_quarantine_and_a_merkle_root(retrieval: Retrieval) -> None:
    report = retrieval.ingest([DATA / "v1"])
    assert report.version == 1 and report.activated  # first version of the corpus
    assert report.files == 5 and report.documents == 11
    assert report.exact_duplicates == 1 and report.near_duplicates == 1
    assert report.dedup_rate == pytest.approx(2 / report.chunks_total, abs=1e-4)
    assert report.quarantined == 2
    assert set(report.quarantine_reasons) == {"builtin:override", "builtin:role_line"}
    hashes = retrieval.searcher.chunks.chunk_hashes(report.version)
    assert report.merkle_root == merkle_root(hashes)
    assert retrieval.versions.get(report.version).merkle_root == report.merkle_root


def test_search_returns_cited_hits_from_the_active_version(retrieval: Retrieval) -> None:
    retrieval.ingest([DATA / "v1"])
    result = retrieval.search("how do I descale the kettle with vinegar", k=3)
    assert result.hits[0].source.endswith("kettle.md")
    [top] = [h for h in result.hits if h.section == "Electric kettles > Descaling"]
    assert "vinegar" in top.text and top.version == 1 and len(top.chunk_id) == 64
    assert top.text.startswith("Limescale")  # the title/section prefix never reaches it
    _, context = retrieval.retrieve("returns policy receipt", budget=60,
                                       count_tokens=words, actor="tester")
    assert words(context.text) <= 60
    assert context.citations[0].source.endswith("returns.jsonl#faq-returns")
    assert context.citations[0].version == 1


def test_poisoned_chunks_are_stored_quarantined_and_never_served(retrieval: Retrieval) -> None:
    retrieval.ingest([DATA / "v1"])
    placements = retrieval.searcher.chunks.placements(1, include_quarantined=True)
    quarantined = [p for p in placements if p.quarantined]
    assert {p.doc_id for p in quarantined} == {"faq-poison", "faq-hijack"}
    assert all(p.embed_key is None for p in quarantined)  # never embedded either
    for query in ("ignore all previous instructions ships free forever",
                  "unrestricted assistant without rules warranty"):
        result = retrieval.search(query, k=20)
        assert not {h.doc_id for h in result.hits} & {"faq-poison", "faq-hijack"}
    assert retrieval.health().ok


def test_filters_and_per_document_cap(retrieval: Retrieval) -> None:
    retrieval.ingest([DATA / "v1"])
    german = retrieval.search("returns", k=5, filters={"lang": "de"})
    assert [h.doc_id for h in german.hits] == ["faq-retouren"]
    everything = retrieval.search("kettle", k=20)
    per_doc: dict[str, int] = {}
    for hit in everything.hits:
        per_doc[hit.doc_id] = per_doc.get(hit.doc_id, 0) + 1
    assert max(per_doc.values()) <= retrieval.config.fusion.per_doc_cap


def test_new_versions_wait_for_activation_and_rollback_restores(retrieval: Retrieval) -> None:
    retrieval.ingest([DATA / "v1"])
    old = retrieval.search("returns policy", k=3)
    report = retrieval.ingest([DATA / "v2"])
    assert not report.activated and retrieval.versions.active("default") == 1
    assert retrieval.search("returns policy", k=3).hits == old.hits
    retrieval.activate(report.version, "tester")
    new = retrieval.search("returns policy", k=3)
    assert new.version == 2 and "60 days" in new.hits[0].text
    retrieval.rollback(None, "tester")
    assert retrieval.search("returns policy", k=3).hits == old.hits
    kinds = [r.kind for r in AuditLog(retrieval.db).records()]
    assert kinds.count("retrieval.ingest") == 2
    assert kinds.count("retrieval.activate") == 2 and kinds.count("retrieval.rollback") == 1


def test_temporal_queries_answer_from_the_version_active_then(retrieval: Retrieval) -> None:
    retrieval.ingest([DATA / "v1"])
    time.sleep(0.02)
    when_v1 = datetime.now(UTC)
    time.sleep(0.02)
    retrieval.activate(retrieval.ingest([DATA / "v2"]).version, "tester")
    assert retrieval.search("returns", as_of=when_v1).version == 1
    assert retrieval.search("returns").version == 2
    with pytest.raises(VersionError, match="had no active version"):
        retrieval.search("returns", as_of=datetime(2000, 1, 1, tzinfo=UTC))


def test_retrieval_decisions_are_audited_without_the_query(retrieval: Retrieval) -> None:
    retrieval.ingest([DATA / "v1"])
    result, _ = retrieval.retrieve("secret customer question about returns", budget=100,
                                   count_tokens=words, actor="key_1", request_id="req_1")
    record = [r for r in AuditLog(retrieval.db).records() if r.kind == "retrieval.query"][-1]
    assert record.payload["query_sha256"] == result.query_sha256
    assert record.payload["chunk_ids"] == [h.chunk_id for h in result.hits]
    assert record.payload["version"] == 1 and record.payload["request_id"] == "req_1"
    assert "secret" not in str(record.payload)
    assert AuditLog(retrieval.db).verify()[1] is None


class BrokenEmbedder(FakeEmbedder):
    def embed(self, texts: list[str]):
        raise RuntimeError("embedder crashed")


def test_a_failed_ingest_leaves_no_visible_version(retrieval: Retrieval, db, config) -> None:
    retrieval.ingest([DATA / "v1"])
    before = retrieval.search("kettle").hits
    with pytest.raises(RuntimeError, match="embedder crashed"):
        Retrieval(db, config, embedder=BrokenEmbedder()).ingest([DATA / "v2"], activate=True)
    states = {v.id: v.state for v in retrieval.list_versions()}
    assert states == {1: "ready", 2: "failed"}
    assert retrieval.versions.active("default") == 1
    assert retrieval.search("kettle").hits == before
    with pytest.raises(VersionError):
        retrieval.activate(2, "tester")


def test_nothing_to_ingest_is_a_clear_error(retrieval: Retrieval, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("   \n")
    with pytest.raises(IngestError, match="no text"):
        retrieval.ingest([tmp_path])
    assert retrieval.list_versions() == []


def test_shared_chunks_are_stored_once_and_embeddings_reused(retrieval: Retrieval,
                                                             embedder: FakeEmbedder) -> None:
    first = retrieval.ingest([DATA / "v1"])
    second = retrieval.ingest([DATA / "v1"])
    assert second.new_chunks_stored == 0 and second.embeddings_computed == 0
    assert second.merkle_root == first.merkle_root and second.version == 2


def test_index_files_are_rebuilt_from_the_db_when_missing_or_stale(
        retrieval: Retrieval, db, config, embedder: FakeEmbedder) -> None:
    retrieval.ingest([DATA / "v1"])
    expected = retrieval.search("descale kettle").hits
    directory = retrieval.indexes.path(1)
    shutil.rmtree(directory)
    fresh = Retrieval(db, config, embedder=embedder)  # another replica, empty cache
    assert fresh.search("descale kettle").hits == expected
    assert (directory / ROWS).exists()
    manifest = directory / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"merkle_root": "', '"merkle_root": "0'))
    again = Retrieval(db, config, embedder=embedder)
    assert again.search("descale kettle").hits == expected
    assert retrieval.indexes.verify_files(1) == []


def test_health_check_detects_prefix_leakage(retrieval: Retrieval, db, config,
                                             embedder: FakeEmbedder) -> None:
    retrieval.ingest([DATA / "v1"])
    assert retrieval.health().ok
    rows = retrieval.indexes.path(1) / ROWS
    lines = rows.read_text().splitlines()
    # Simulate a builder that fed "prefix + text" to BM25: the recorded hash no longer
    # matches the chunk address.
    lines[0] = lines[0].replace('"lexical_sha256": "', '"lexical_sha256": "f', 1)
    rows.write_text("\n".join(lines) + "\n")
    report = Retrieval(db, config, embedder=embedder).health()
    assert not report.ok and "prefix leakage" in report.problems[0]


@pytest.mark.parametrize("name", ["", "-x", "a/b", "x" * 65, "spaces here"])
def test_corpus_names_are_checked(retrieval: Retrieval, name: str) -> None:
    with pytest.raises(IngestError, match="corpus name"):
        retrieval.ingest([DATA / "v1"], corpus=name or " ")
