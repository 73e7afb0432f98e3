"""Health checks on the active version: prefix leakage and quarantine.

The embedding text may carry a context prefix (title, section path); the BM25 text and the
reader context must hold only the chunk text. The index records the SHA-256 of the exact
text BM25 indexed for each row, and a chunk's id is the SHA-256 of its text, so "BM25 saw
only the chunk text" is checkable row by row without trusting the builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from warden.retrieval.chunking import embedding_text
from warden.retrieval.index import IndexManager
from warden.retrieval.normalize import text_hash
from warden.retrieval.store import embedding_key


@dataclass
class HealthReport:
    corpus: str
    version: int | None
    rows_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.version is not None and not self.problems


def check_prefix_leakage(indexes: IndexManager, corpus: str, *, max_problems: int = 20
                         ) -> HealthReport:
    """Verify the active version of corpus: every indexed row's BM25 text is its chunk text,
    stored text matches its address, embedding text = prefix + chunk text, and no
    quarantined chunk is indexed."""
    version_id = indexes.versions.active(corpus)
    report = HealthReport(corpus, version_id)
    if version_id is None:
        report.problems.append(f"corpus '{corpus}' has no active version")
        return report
    info = indexes.versions.require_ready(version_id)
    model = str(info.settings.get("embedding_model", ""))
    index = indexes.load(version_id)
    placements = {p.chunk_hash: p for p in
                  indexes.chunks.placements(version_id, include_quarantined=True)}
    texts = indexes.chunks.texts([row.chunk_hash for row in index.rows])

    def problem(message: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(message)

    served = {h for h, p in placements.items() if not p.quarantined}
    indexed = {row.chunk_hash for row in index.rows}
    if indexed != served:
        problem(f"index rows ({len(indexed)}) differ from the version's servable chunks "
                f"({len(served)})")
    for row in index.rows:
        report.rows_checked += 1
        placement = placements.get(row.chunk_hash)
        text = texts.get(row.chunk_hash)
        if placement is None or text is None:
            problem(f"row {row.chunk_hash[:12]} is not part of version {version_id}")
            continue
        if placement.quarantined:
            problem(f"quarantined chunk {row.chunk_hash[:12]} is indexed")
        if row.lexical_sha256 != row.chunk_hash:
            problem(f"BM25 text of chunk {row.chunk_hash[:12]} is not the chunk text "
                    "(prefix leakage)")
        if text_hash(text) != row.chunk_hash:
            problem(f"stored text of chunk {row.chunk_hash[:12]} does not match its address")
        expected = embedding_key(model, embedding_text(placement.embed_prefix, text))
        if placement.embed_key != expected:
            problem(f"embedding of chunk {row.chunk_hash[:12]} was not computed from "
                    "prefix + chunk text")
    return report
