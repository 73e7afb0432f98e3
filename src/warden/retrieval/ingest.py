"""One ingest run: files → documents → chunks → dedup → poison screen → store → embed →
index files → a new version flipped from 'building' to 'ready' in one transaction.

Until that flip nothing of the run is visible: a run that fails or is killed leaves a
'building' (or 'failed') row and content-addressed rows no ready version points to, and the
active pointer is untouched. Activation default: only when the corpus has none yet.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from warden.config.retrieval import RetrievalConfig
from warden.retrieval.chunking import ChunkDraft, chunk_document, context_prefix, embedding_text
from warden.retrieval.dedup import deduplicate
from warden.retrieval.documents import Document, discover, read_documents
from warden.retrieval.embedder import TextEmbedder, model_name
from warden.retrieval.index import IndexManager
from warden.retrieval.merkle import merkle_root
from warden.retrieval.poison import screen_from_specs
from warden.retrieval.store import ChunkStore, Placement, embedding_key
from warden.retrieval.tokens import get_tokenizer
from warden.retrieval.versions import VersionStore
from warden.store.db import Database

CORPUS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class IngestError(Exception):
    """An ingest that cannot start or finish; the message says what to fix."""


class ProgressSink(Protocol):
    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def note(self, message: str) -> None: ...


class NullProgress:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class IngestReport:
    run_id: str
    version: int
    corpus: str
    files: int
    skipped_files: int
    documents: int
    chunks_total: int
    exact_duplicates: int
    near_duplicates: int
    dedup_rate: float
    quarantined: int
    chunks_indexed: int
    new_chunks_stored: int
    embeddings_computed: int
    embeddings_reused: int
    merkle_root: str
    activated: bool
    elapsed_s: float
    chunks_per_s: float
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Prepared:
    files: int
    skipped: int
    documents: list[Document]
    chunks: list[tuple[Document, ChunkDraft]]


def _prepare(paths: Sequence[Path], config: RetrievalConfig, progress: ProgressSink
             ) -> _Prepared:
    code_ext = tuple(e.lower() for e in config.chunking.code_extensions)
    files, skipped = discover(list(paths), code_ext)
    if not files:
        raise IngestError(f"nothing to ingest: no supported files under "
                          f"{', '.join(map(str, paths))}")
    tokenizer = get_tokenizer(config.chunking.tokenizer)
    progress.stage("reading and chunking", len(files))
    documents: list[Document] = []
    chunks: list[tuple[Document, ChunkDraft]] = []
    for path in files:
        for doc in read_documents(path, code_ext):
            documents.append(doc)
            chunks.extend((doc, d) for d in chunk_document(doc.sections, tokenizer,
                                                           config.chunking.domains))
        progress.advance()
    if not chunks:
        raise IngestError("nothing to ingest: the files hold no text")
    return _Prepared(len(files), skipped, documents, chunks)


def ingest(db: Database, paths: Sequence[Path], *, corpus: str, config: RetrievalConfig,
           embedder: TextEmbedder, activate: bool | None = None, actor: str = "cli",
           progress: ProgressSink | None = None, description: str | None = None,
           indexes: IndexManager | None = None) -> IngestReport:
    if not CORPUS_NAME.fullmatch(corpus):
        raise IngestError(f"corpus name '{corpus}' must be 1-64 letters, digits, '_', '.' or "
                          "'-', starting with a letter or digit")
    progress = progress or NullProgress()
    started = time.perf_counter()
    prepared = _prepare(paths, config, progress)
    screen = screen_from_specs(config.poison.detectors)
    tokenizer = get_tokenizer(config.chunking.tokenizer)
    model = model_name(embedder)

    progress.stage("deduplicating", None)
    dd = config.dedup
    result = deduplicate([c.hash for _, c in prepared.chunks],
                         [c.text for _, c in prepared.chunks], near=dd.near_duplicates,
                         threshold=dd.threshold, permutations=dd.permutations, bands=dd.bands,
                         shingle_words=dd.shingle_words)
    kept = [prepared.chunks[i] for i in result.kept]

    placements: list[Placement] = []
    embed_texts: dict[str, str] = {}
    reasons: dict[str, int] = {}
    for doc, draft in kept:
        verdict = screen.check(draft.text)
        if verdict.poisoned:
            reasons[verdict.reason or "?"] = reasons.get(verdict.reason or "?", 0) + 1
        prefix = context_prefix(doc.title, draft.section, tokenizer,
                                config.chunking.prefix_max_tokens)
        text = embedding_text(prefix, draft.text)
        # Quarantined text is never embedded: nothing about it may become servable.
        key = None if verdict.poisoned else embedding_key(model, text)
        if key is not None:
            embed_texts[key] = text
        placements.append(Placement(
            chunk_hash=draft.hash, doc_id=doc.doc_id, source=doc.source, ordinal=draft.ordinal,
            title=doc.title[:512], section=draft.section[:1024], domain=draft.domain,
            embed_prefix=prefix, embed_key=key, meta={**doc.metadata, "domain": draft.domain},
            quarantined=verdict.poisoned, quarantine_reason=verdict.reason))
    quarantined = sum(p.quarantined for p in placements)
    root = merkle_root(p.chunk_hash for p in placements)

    versions = VersionStore(db)
    settings = {"embedding_model": model, "paths": [str(p) for p in paths],
                "chunking": config.chunking.model_dump(), "dedup": dd.model_dump(),
                "poison_detectors": list(config.poison.detectors)}
    version_id, run_id = versions.begin(corpus, settings, description)
    progress.note(f"INGEST_RUN_ID={run_id}")
    progress.note(f"VERSION={version_id} (building)")
    try:
        chunks = ChunkStore(db)
        progress.stage("storing chunks", len(kept))
        new_chunks = chunks.put_chunks([(c.hash, c.text, c.n_tokens) for _, c in kept])
        progress.advance(len(kept))

        wanted = [p.embed_key for p in placements if p.embed_key is not None]
        missing = chunks.missing_embeddings(wanted)
        progress.stage("embedding", len(missing))
        batch = config.embed_batch_size
        for start in range(0, len(missing), batch):
            keys = missing[start:start + batch]
            chunks.put_embeddings(keys, model, embedder.embed([embed_texts[k] for k in keys]))
            versions.heartbeat(version_id)
            progress.advance(len(keys))

        progress.stage("recording the version", len(placements))
        chunks.put_placements(version_id, placements)
        progress.advance(len(placements))

        progress.stage("building index files", None)
        manager = indexes or IndexManager(chunks, versions, config)
        manager.build(version_id, corpus=corpus, merkle_root=root, placements=placements,
                      model=model)

        elapsed = time.perf_counter() - started
        report = IngestReport(
            run_id=run_id, version=version_id, corpus=corpus, files=prepared.files,
            skipped_files=prepared.skipped, documents=len(prepared.documents),
            chunks_total=result.total, exact_duplicates=result.exact_duplicates,
            near_duplicates=result.near_duplicates, dedup_rate=round(result.rate, 4),
            quarantined=quarantined, chunks_indexed=len(placements) - quarantined,
            new_chunks_stored=new_chunks, embeddings_computed=len(missing),
            embeddings_reused=len(set(wanted)) - len(missing), merkle_root=root,
            activated=False, elapsed_s=round(elapsed, 3),
            chunks_per_s=round(len(placements) / elapsed, 2) if elapsed else 0.0,
            quarantine_reasons=reasons)
        progress.stage("committing", None)
        stats = {k: v for k, v in report.summary().items()
                 if k not in ("run_id", "version", "corpus", "merkle_root", "activated")}
        flip = versions.finalize(version_id, merkle_root=root, chunk_count=len(placements),
                                 quarantined_count=quarantined,
                                 document_count=len(prepared.documents), stats=stats,
                                 activate=activate, actor=actor)
    except BaseException as exc:
        versions.fail(version_id, f"{type(exc).__name__}: {exc}")
        raise
    report.activated = flip is not None
    return report
