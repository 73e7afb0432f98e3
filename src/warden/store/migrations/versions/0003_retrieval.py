"""Retrieval: content-addressed chunks and embeddings, index versions, the active pointer.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrieval_chunks",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("n_tokens", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "retrieval_embeddings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "retrieval_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("corpus", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ingest_run_id", sa.String(40), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merkle_root", sa.String(64), nullable=True),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("quarantined_count", sa.Integer, nullable=False),
        sa.Column("document_count", sa.Integer, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
    )
    op.create_index("ix_retrieval_versions_corpus", "retrieval_versions", ["corpus"])
    op.create_table(
        "retrieval_version_chunks",
        sa.Column("version_id", sa.Integer, sa.ForeignKey("retrieval_versions.id"),
                  primary_key=True),
        sa.Column("chunk_hash", sa.String(64), sa.ForeignKey("retrieval_chunks.hash"),
                  primary_key=True),
        sa.Column("doc_id", sa.String(512), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("section", sa.String(1024), nullable=False),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("embed_prefix", sa.Text, nullable=False),
        sa.Column("embed_key", sa.String(64), sa.ForeignKey("retrieval_embeddings.key"),
                  nullable=True),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("quarantined", sa.Boolean, nullable=False),
        sa.Column("quarantine_reason", sa.String(128), nullable=True),
    )
    op.create_index("ix_retrieval_version_chunks_doc", "retrieval_version_chunks",
                    ["version_id", "doc_id"])
    op.create_table(
        "retrieval_pointers",
        sa.Column("corpus", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("retrieval_versions.id"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "retrieval_pointer_history",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("corpus", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("retrieval_versions.id"),
                  nullable=False),
        sa.Column("previous_version_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_retrieval_pointer_history_corpus_at", "retrieval_pointer_history",
                    ["corpus", "at"])


def downgrade() -> None:
    op.drop_table("retrieval_pointer_history")
    op.drop_table("retrieval_pointers")
    op.drop_table("retrieval_version_chunks")
    op.drop_table("retrieval_versions")
    op.drop_table("retrieval_embeddings")
    op.drop_table("retrieval_chunks")
