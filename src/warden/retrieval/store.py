"""Content-addressed storage of chunks and embeddings, and a version's placements.

Chunk rows are keyed by the SHA-256 of their text and embeddings by the SHA-256 of (model,
embedding text): a chunk or vector shared by many versions is stored once, and a rerun after
a killed ingest finds its embeddings already there. Writes are committed in batches; they
are invisible until a version that references them is flipped to 'ready'.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from warden.retrieval.tables import (
    RetrievalChunk,
    RetrievalEmbedding,
    RetrievalVersionChunk,
)
from warden.store.db import Database

_IN_BATCH = 500  # stays under SQLite's bound-parameter limit with room to spare


def embedding_key(model: str, embedding_text: str) -> str:
    return hashlib.sha256(f"{model}\0{embedding_text}".encode()).hexdigest()


def _batches(items: Sequence[Any], size: int = _IN_BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True)
class Placement:
    """One chunk inside one version, with what search needs besides the vector."""

    chunk_hash: str
    doc_id: str
    source: str
    ordinal: int
    title: str
    section: str
    domain: str
    embed_prefix: str
    embed_key: str | None  # None for quarantined chunks: they are never embedded
    meta: dict[str, Any]
    quarantined: bool = False
    quarantine_reason: str | None = None


class ChunkStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put_chunks(self, chunks: Sequence[tuple[str, str, int]]) -> int:
        """Insert (hash, text, n_tokens) rows not stored yet; return how many were new."""
        added = 0
        for batch in _batches(list(chunks)):
            for _ in range(3):  # a concurrent ingest may store the same chunk first
                with self.db.session() as session:
                    have = set(session.scalars(select(RetrievalChunk.hash).where(
                        RetrievalChunk.hash.in_([c[0] for c in batch]))))
                    now = datetime.now(UTC)
                    fresh = {h: (t, n) for h, t, n in batch if h not in have}
                    session.add_all(RetrievalChunk(hash=h, text=t, n_tokens=n, created_at=now)
                                    for h, (t, n) in fresh.items())
                    try:
                        session.commit()
                        added += len(fresh)
                        break
                    except IntegrityError:
                        session.rollback()
            else:
                raise RuntimeError("could not store chunks after repeated conflicts")
        return added

    def missing_embeddings(self, keys: Sequence[str]) -> list[str]:
        missing: list[str] = []
        for batch in _batches(list(dict.fromkeys(keys))):
            with self.db.session() as session:
                have = set(session.scalars(select(RetrievalEmbedding.key).where(
                    RetrievalEmbedding.key.in_(batch))))
            missing.extend(k for k in batch if k not in have)
        return missing

    def put_embeddings(self, keys: Sequence[str], model: str, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        for start in range(0, len(keys), _IN_BATCH):
            self._put_embedding_batch(keys[start:start + _IN_BATCH], model,
                                      vectors[start:start + _IN_BATCH])

    def _put_embedding_batch(self, keys: Sequence[str], model: str, vectors: np.ndarray
                             ) -> None:
        for _ in range(3):  # a concurrent ingest may store the same embedding first
            with self.db.session() as session:
                have = set(session.scalars(select(RetrievalEmbedding.key).where(
                    RetrievalEmbedding.key.in_(list(keys)))))
                session.add_all(
                    RetrievalEmbedding(key=k, model=model, dim=int(vectors.shape[1]),
                                       vector=vectors[i].tobytes())
                    for i, k in enumerate(keys) if k not in have)
                try:
                    session.commit()
                    return
                except IntegrityError:
                    session.rollback()
        raise RuntimeError("could not store embeddings after repeated conflicts")

    def put_placements(self, version_id: int, placements: Sequence[Placement]) -> None:
        for batch in _batches(list(placements)):
            with self.db.session() as session:
                session.add_all(RetrievalVersionChunk(
                    version_id=version_id, chunk_hash=p.chunk_hash, doc_id=p.doc_id,
                    source=p.source, ordinal=p.ordinal, title=p.title, section=p.section,
                    domain=p.domain, embed_prefix=p.embed_prefix, embed_key=p.embed_key,
                    meta=p.meta, quarantined=p.quarantined,
                    quarantine_reason=p.quarantine_reason) for p in batch)
                session.commit()

    def placements(self, version_id: int, *, include_quarantined: bool = False
                   ) -> list[Placement]:
        """A version's placements in a stable order (document, then position)."""
        query = (select(RetrievalVersionChunk)
                 .where(RetrievalVersionChunk.version_id == version_id)
                 .order_by(RetrievalVersionChunk.doc_id, RetrievalVersionChunk.ordinal,
                           RetrievalVersionChunk.chunk_hash))
        if not include_quarantined:
            query = query.where(RetrievalVersionChunk.quarantined.is_(False))
        with self.db.session() as session:
            return [Placement(r.chunk_hash, r.doc_id, r.source, r.ordinal, r.title, r.section,
                              r.domain, r.embed_prefix, r.embed_key, dict(r.meta or {}),
                              r.quarantined, r.quarantine_reason)
                    for r in session.scalars(query)]

    def chunk_hashes(self, version_id: int) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(RetrievalVersionChunk.chunk_hash).where(
                RetrievalVersionChunk.version_id == version_id)))

    def texts(self, hashes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        table = RetrievalChunk.__table__
        # Core, not the ORM: this runs on every query, and the ORM's unit of work costs more
        # than the lookup itself.
        with self.db.engine.connect() as connection:
            for batch in _batches(list(dict.fromkeys(hashes))):
                out.update(connection.execute(select(table.c.hash, table.c.text)
                                              .where(table.c.hash.in_(batch))).all())
        return out

    def vectors(self, keys: Sequence[str], dim: int) -> np.ndarray:
        """Vectors for keys, in the order given."""
        found: dict[str, bytes] = {}
        for batch in _batches(list(dict.fromkeys(keys))):
            with self.db.session() as session:
                found.update(session.execute(
                    select(RetrievalEmbedding.key, RetrievalEmbedding.vector)
                    .where(RetrievalEmbedding.key.in_(batch))).all())
        missing = [k for k in keys if k not in found]
        if missing:
            raise LookupError(f"{len(missing)} embeddings are missing, e.g. {missing[0]}")
        out = np.empty((len(keys), dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = np.frombuffer(found[key], dtype="<f4")
        return out
