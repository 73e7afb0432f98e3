"""What retrieval writes to the hash-chained audit log. Never raw queries or chunk text."""

from __future__ import annotations

from typing import Any

from warden.retrieval.search import SearchResult
from warden.retrieval.versions import Flip
from warden.store.audit import AuditLog


def record_ingest(audit: AuditLog, actor: str, summary: dict[str, Any]) -> int:
    return audit.append("retrieval.ingest", actor, summary)


def record_flip(audit: AuditLog, actor: str, action: str, flip: Flip) -> int:
    return audit.append(f"retrieval.{action}", actor, {
        "corpus": flip.corpus, "from_version": flip.previous, "to_version": flip.current})


def retrieval_decision(result: SearchResult, *, k: int | None = None) -> dict[str, Any]:
    """The audit payload of one retrieval: the query's SHA-256, never the query."""
    payload: dict[str, Any] = {
        "query_sha256": result.query_sha256,
        "corpus": result.corpus,
        "version": result.version,
        "chunk_ids": [h.chunk_id for h in result.hits],
        "scores": [h.score for h in result.hits],
    }
    if k is not None:
        payload["k"] = k
    if result.as_of is not None:
        payload["as_of"] = result.as_of.isoformat()
    return payload


def record_retrieval(audit: AuditLog, actor: str, result: SearchResult, *,
                     k: int | None = None, request_id: str | None = None) -> int:
    payload = retrieval_decision(result, k=k)
    if request_id:
        payload["request_id"] = request_id
    return audit.append("retrieval.query", actor, payload)
