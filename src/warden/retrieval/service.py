"""The retrieval facade the CLI and the API use: every state change is audited here.

    retrieval = Retrieval(db, config.retrieval, audit=AuditLog(db))
    result, context = retrieval.retrieve("question", budget=512, count_tokens=count,
                                         actor=principal.key_id)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from warden.config.retrieval import RetrievalConfig
from warden.retrieval.audit import record_flip, record_ingest, record_retrieval
from warden.retrieval.context import Context, CountTokens, build_context
from warden.retrieval.embedder import TextEmbedder, default_embedder
from warden.retrieval.filters import Filters
from warden.retrieval.health import HealthReport, check_prefix_leakage
from warden.retrieval.ingest import IngestReport, ProgressSink, ingest
from warden.retrieval.search import Hit, Searcher, SearchResult
from warden.retrieval.versions import Flip, VersionInfo, VersionStore
from warden.store.audit import AuditLog
from warden.store.db import Database


class Retrieval:
    def __init__(self, db: Database, config: RetrievalConfig, *,
                 embedder: TextEmbedder | None = None, audit: AuditLog | None = None) -> None:
        self.db = db
        self.config = config
        self.audit = audit
        self.searcher = Searcher(db, config, embedder=embedder)
        self.versions: VersionStore = self.searcher.versions
        self.indexes = self.searcher.indexes

    @property
    def embedder(self) -> TextEmbedder:
        return self.searcher.embedder

    def ingest(self, paths: Sequence[Path], *, corpus: str | None = None,
               activate: bool | None = None, actor: str = "cli",
               progress: ProgressSink | None = None, description: str | None = None
               ) -> IngestReport:
        report = ingest(self.db, paths, corpus=corpus or self.config.default_corpus,
                        config=self.config, embedder=self.embedder, activate=activate,
                        actor=actor, progress=progress, description=description,
                        indexes=self.indexes)
        self.searcher.pointer.invalidate(report.corpus)
        if self.audit is not None:
            summary = report.summary()
            summary.pop("quarantine_reasons", None)
            record_ingest(self.audit, actor, summary)
            if report.activated:
                record_flip(self.audit, actor, "activate",
                            Flip(report.corpus, None, report.version))
        return report

    def activate(self, version: int, actor: str) -> Flip:
        flip = self.versions.activate(version, actor)
        self.searcher.pointer.invalidate(flip.corpus)
        if self.audit is not None and flip.changed:
            record_flip(self.audit, actor, "activate", flip)
        return flip

    def rollback(self, corpus: str | None, actor: str) -> Flip:
        flip = self.versions.rollback(corpus or self.config.default_corpus, actor)
        self.searcher.pointer.invalidate(flip.corpus)
        if self.audit is not None:
            record_flip(self.audit, actor, "rollback", flip)
        return flip

    def list_versions(self, corpus: str | None = None) -> list[VersionInfo]:
        return self.versions.list(corpus)

    def search(self, query: str, *, corpus: str | None = None, k: int | None = None,
               as_of: datetime | None = None, version: int | None = None,
               filters: Filters | None = None, fresh: bool = False) -> SearchResult:
        return self.searcher.search(query, corpus=corpus, k=k, as_of=as_of, version=version,
                                    filters=filters, fresh=fresh)

    def retrieve(self, query: str, *, budget: int, count_tokens: CountTokens,
                 actor: str, request_id: str | None = None, corpus: str | None = None,
                 k: int | None = None, as_of: datetime | None = None,
                 version: int | None = None, filters: Filters | None = None,
                 screen: Callable[[Sequence[Hit]], Sequence[Hit]] | None = None,
                 fresh: bool = False) -> tuple[SearchResult, Context]:
        """Search, build the budgeted reader context, and audit the decision.

        `version` pins an index version (a rollout arm's) instead of the active pointer.
        `screen` (the API's chunk guard) sees the hits before the context is built; it may
        drop hits or return them with redacted text. The audit records what was retrieved."""
        result = self.search(query, corpus=corpus, k=k, as_of=as_of, version=version,
                             filters=filters, fresh=fresh)
        hits = screen(result.hits) if screen is not None else result.hits
        context = build_context(hits, budget, count_tokens,
                                truncate_last=self.config.context.truncate_last)
        if self.audit is not None and self.config.audit_queries:
            record_retrieval(self.audit, actor, result, k=k, request_id=request_id)
        return result, context

    def health(self, corpus: str | None = None) -> HealthReport:
        return check_prefix_leakage(self.indexes, corpus or self.config.default_corpus)


__all__ = ["Retrieval", "default_embedder"]
