"""Hybrid search on one index version: BM25 + dense vectors, weighted RRF, filters, a cap.

The version comes from the active pointer (read per query through a cache of at most 1 s),
from `as_of` (the version active at that time), or is named explicitly.
"""

from __future__ import annotations

import hashlib
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from warden.config.retrieval import RetrievalConfig
from warden.retrieval.embedder import TextEmbedder, default_embedder
from warden.retrieval.filters import Filters, matches
from warden.retrieval.fusion import cap_per_document, weighted_rrf
from warden.retrieval.index import IndexManager, VersionIndex
from warden.retrieval.store import ChunkStore
from warden.retrieval.versions import PointerCache, VersionError, VersionStore
from warden.store.db import Database

# Filters apply after retrieval; a very selective filter stops widening the candidate pool
# here, so a query never turns into a scan of a million-chunk graph.
MAX_POOL = 8192


def query_hash(query: str) -> str:
    """What the audit log keeps of a query: never the text itself."""
    return hashlib.sha256(unicodedata.normalize("NFKC", query).strip().encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    chunk_id: str          # the chunk's content address (SHA-256 of its text)
    doc_id: str
    source: str
    title: str
    section: str
    corpus: str
    version: int
    score: float           # fused RRF score
    text: str              # chunk text only: never the embedding prefix
    metadata: dict[str, Any] = field(default_factory=dict)
    lexical_rank: int | None = None
    vector_rank: int | None = None
    vector_score: float | None = None


@dataclass(frozen=True)
class SearchResult:
    corpus: str
    version: int
    query_sha256: str
    hits: list[Hit]
    timings_ms: dict[str, float]
    as_of: datetime | None = None
    # What the evaluation needs to see past the top k: every fused candidate before filters
    # and the per-document cap (oracle_retrieval_hit_prefilter), and how many candidates the
    # cap and the filters set aside (no silent clamps).
    candidates: tuple[tuple[str, str], ...] = ()   # (chunk_id, doc_id), fused order
    cap_dropped: int = 0
    filtered_out: int = 0


@dataclass(frozen=True)
class _Ranked:
    selected: list[tuple[int, float]]
    ranks: dict[int, tuple[Any, Any, Any]]
    fused: list[tuple[int, float]]
    cap_dropped: int
    filtered_out: int


class Searcher:
    def __init__(self, db: Database, config: RetrievalConfig, *,
                 embedder: TextEmbedder | None = None,
                 embedder_factory: Callable[[], TextEmbedder] = default_embedder,
                 indexes: IndexManager | None = None) -> None:
        self.config = config
        self.chunks = ChunkStore(db)
        self.versions = VersionStore(db)
        self.pointer = PointerCache(self.versions, config.pointer_cache_s)
        self.indexes = indexes or IndexManager(self.chunks, self.versions, config)
        self._embedder = embedder
        self._embedder_factory = embedder_factory
        self._embedder_lock = threading.Lock()

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:  # loading torch takes seconds: only when a query needs it
            with self._embedder_lock:  # two first queries must not load it twice
                if self._embedder is None:
                    self._embedder = self._embedder_factory()
        return self._embedder

    def resolve(self, corpus: str, *, as_of: datetime | None = None,
                version: int | None = None, fresh: bool = False) -> int:
        """The version to search. `fresh` reads the active pointer from the store, past the
        per-replica pointer cache (evaluation runs ask for no caches)."""
        if version is not None:
            info = self.versions.require_ready(version)
            if info.corpus != corpus:
                raise VersionError(f"version {version} belongs to corpus '{info.corpus}', "
                                   f"not '{corpus}'")
            return version
        if as_of is not None:
            found = self.versions.as_of(corpus, as_of)
            if found is None:
                raise VersionError(f"corpus '{corpus}' had no active version at "
                                   f"{as_of.isoformat()}")
            return found
        active = self.pointer.store.active(corpus) if fresh else self.pointer.get(corpus)
        if active is None:
            raise VersionError(f"corpus '{corpus}' has no active version; ingest with "
                               "`warden index ingest` or `warden index activate`")
        return active

    def search(self, query: str, *, corpus: str | None = None, k: int | None = None,
               as_of: datetime | None = None, version: int | None = None,
               filters: Filters | None = None, query_vector: np.ndarray | None = None,
               fresh: bool = False) -> SearchResult:
        started = time.perf_counter()
        corpus = corpus or self.config.default_corpus
        k = k or self.config.default_k
        version_id = self.resolve(corpus, as_of=as_of, version=version, fresh=fresh)
        index = self.indexes.load(version_id)
        timings: dict[str, float] = {}
        fusion = self.config.fusion
        if fusion.vector_weight > 0 and query_vector is None:
            t0 = time.perf_counter()
            query_vector = self.embedder.embed([query])[0]
            timings["embed"] = (time.perf_counter() - t0) * 1000

        pool = max(fusion.candidates, k)
        deepest = max(pool, MAX_POOL)
        while True:
            ranked = self._rank(index, query, query_vector, pool=pool, k=k, filters=filters,
                                timings=timings)
            selected, ranks = ranked.selected, ranked.ranks
            if len(selected) >= k or pool >= min(len(index.rows), deepest):
                break
            pool *= 4  # filters or the cap threw candidates away: look deeper
        texts = self.chunks.texts([index.rows[r].chunk_hash for r, _ in selected])
        hits = []
        for row_id, score in selected:
            row = index.rows[row_id]
            lexical_rank, vector_rank, vector_score = ranks.get(row_id, (None, None, None))
            hits.append(Hit(row.chunk_hash, row.doc_id, row.source, row.title, row.section,
                            corpus, version_id, round(score, 8), texts[row.chunk_hash],
                            row.meta, lexical_rank, vector_rank, vector_score))
        timings["total"] = (time.perf_counter() - started) * 1000
        candidates = tuple((index.rows[r].chunk_hash, index.rows[r].doc_id)
                           for r, _ in ranked.fused)
        return SearchResult(corpus, version_id, query_hash(query), hits,
                            {name: round(ms, 3) for name, ms in timings.items()}, as_of,
                            candidates=candidates, cap_dropped=ranked.cap_dropped,
                            filtered_out=ranked.filtered_out)

    def _rank(self, index: VersionIndex, query: str, query_vector: np.ndarray | None, *,
              pool: int, k: int, filters: Filters | None, timings: dict[str, float]
              ) -> _Ranked:
        fusion = self.config.fusion
        lexical_rows: list[int] = []
        vector_rows: list[int] = []
        vector_scores: dict[int, float] = {}
        if fusion.lexical_weight > 0:
            t0 = time.perf_counter()
            lexical_rows = index.lexical.search(query, pool)[0].tolist()
            timings["lexical"] = (time.perf_counter() - t0) * 1000
        if fusion.vector_weight > 0 and query_vector is not None:
            t0 = time.perf_counter()
            rows, scores = index.vector.search(query_vector, pool)
            vector_rows = rows.tolist()
            vector_scores = dict(zip(vector_rows, scores.tolist(), strict=True))
            timings["vector"] = (time.perf_counter() - t0) * 1000
        fused = weighted_rrf([(fusion.lexical_weight, lexical_rows),
                              (fusion.vector_weight, vector_rows)], fusion.rrf_k)
        lexical_rank = {r: i for i, r in enumerate(lexical_rows, start=1)}
        vector_rank = {r: i for i, r in enumerate(vector_rows, start=1)}
        allowed = [item for item in fused
                   if matches(filters, source=index.rows[item[0]].source,
                              doc_id=index.rows[item[0]].doc_id, meta=index.rows[item[0]].meta)]
        capped = cap_per_document(allowed, lambda item: index.rows[item[0]].doc_id,
                                  fusion.per_doc_cap, limit=k)
        ranks = {r: (lexical_rank.get(r), vector_rank.get(r), vector_scores.get(r))
                 for r, _ in capped}
        # Candidates the cap passed over on the way to the k kept (those ranked above the last
        # kept one, or all of them when fewer than k were kept).
        kept = {r for r, _ in capped}
        reach = len(allowed) if len(capped) < k else \
            next(i for i, (r, _) in enumerate(allowed) if r == capped[-1][0]) + 1
        cap_dropped = sum(1 for r, _ in allowed[:reach] if r not in kept)
        return _Ranked(capped, ranks, fused, cap_dropped, len(fused) - len(allowed))
