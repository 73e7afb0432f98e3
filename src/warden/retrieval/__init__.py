"""Retrieval: ingest, content-addressed chunks, versioned indexes with an active pointer,
hybrid search (BM25 + vectors, weighted RRF), the budgeted reader context, and backups.

The API uses `Retrieval` (service.py) and `build_context` (context.py); both are pure of
HTTP. See README "Retrieval" for the commands.
"""

from warden.config.retrieval import RetrievalConfig, retrieval_config
from warden.retrieval.context import Citation, Context, build_context, context_budget

__all__ = ["Citation", "Context", "RetrievalConfig", "build_context", "context_budget",
           "retrieval_config"]
