"""Retrieval tables. The schema is created by migrations/versions/0002_retrieval.py.

Chunk text and embeddings are content-addressed and shared by every version that uses them;
a version is a set of placements (version, chunk) that is immutable once it is 'ready'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from warden.store.models import Base


class RetrievalChunk(Base):
    __tablename__ = "retrieval_chunks"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    n_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RetrievalEmbedding(Base):
    __tablename__ = "retrieval_embeddings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(model \0 text)
    model: Mapped[str] = mapped_column(String(128))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian


class RetrievalVersion(Base):
    __tablename__ = "retrieval_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    corpus: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16))  # building | ready
    ingest_run_id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    merkle_root: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_count: Mapped[int] = mapped_column(Integer, default=0)
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class RetrievalVersionChunk(Base):
    __tablename__ = "retrieval_version_chunks"
    __table_args__ = (Index("ix_retrieval_version_chunks_doc", "version_id", "doc_id"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("retrieval_versions.id"),
                                            primary_key=True)
    chunk_hash: Mapped[str] = mapped_column(ForeignKey("retrieval_chunks.hash"),
                                            primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(1024))
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(512))
    section: Mapped[str] = mapped_column(String(1024))
    domain: Mapped[str] = mapped_column(String(16))
    embed_prefix: Mapped[str] = mapped_column(Text)
    embed_key: Mapped[str | None] = mapped_column(ForeignKey("retrieval_embeddings.key"),
                                                  nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    quarantine_reason: Mapped[str | None] = mapped_column(String(128), nullable=True)


class RetrievalPointer(Base):
    """The active version of one corpus: the only thing search reads to pick a version."""

    __tablename__ = "retrieval_pointers"

    corpus: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("retrieval_versions.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


class RetrievalPointerEvent(Base):
    """Every flip of a pointer: rollback walks it back, --as-of reads it by time."""

    __tablename__ = "retrieval_pointer_history"
    __table_args__ = (Index("ix_retrieval_pointer_history_corpus_at", "corpus", "at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    corpus: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("retrieval_versions.id"))
    previous_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(16))  # activate | rollback | restore
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


RETRIEVAL_TABLES = (RetrievalChunk, RetrievalEmbedding, RetrievalVersion, RetrievalVersionChunk,
                    RetrievalPointer, RetrievalPointerEvent)
