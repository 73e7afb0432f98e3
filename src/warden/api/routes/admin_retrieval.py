"""Admin routes for retrieval: index versions, activate, rollback, and the leakage check.

Admin role only. Every pointer flip is audited by `Retrieval` with the admin key id as actor,
and reaches every replica within retrieval.pointer_cache_s (≤ 1 s).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, require_admin
from warden.api.errors import APIError
from warden.api.state import AppState, State
from warden.retrieval.service import Retrieval
from warden.retrieval.versions import Flip, VersionError, VersionInfo

router = APIRouter(prefix="/admin/retrieval", tags=["admin"],
                   dependencies=[Depends(require_admin)])

CORPUS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corpus: str | None = Field(None, pattern=CORPUS_PATTERN,
                               description="Default: retrieval.default_corpus.")


def _retrieval(state: AppState) -> Retrieval:
    retrieval = state.retrieval
    if retrieval is None:
        raise APIError(400, "retrieval is disabled on this server (retrieval.enabled: false "
                            "in warden.yaml); enable it to manage index versions.",
                       code="retrieval_disabled", param="retrieval")
    return retrieval


def version_view(info: VersionInfo, active: dict[str, int]) -> dict[str, Any]:
    return {"id": info.id, "corpus": info.corpus, "state": info.state,
            "active": active.get(info.corpus) == info.id,
            "ingest_run_id": info.ingest_run_id, "created_at": info.created_at.isoformat(),
            "ready_at": info.ready_at.isoformat() if info.ready_at else None,
            "documents": info.document_count, "chunks": info.chunk_count,
            "quarantined": info.quarantined_count, "merkle_root": info.merkle_root,
            "description": info.description}


def flip_view(flip: Flip) -> dict[str, Any]:
    return {"corpus": flip.corpus, "previous_version": flip.previous,
            "active_version": flip.current, "changed": flip.changed}


@router.get("/versions")
async def list_versions(state: State,
                        corpus: str | None = Query(None, pattern=CORPUS_PATTERN)
                        ) -> dict[str, Any]:
    retrieval = _retrieval(state)
    versions = await run_in_threadpool(retrieval.list_versions, corpus)
    active = await run_in_threadpool(retrieval.versions.pointers)
    if corpus is not None and not versions:
        raise APIError(404, f"corpus '{corpus}' has no versions. Create it with `warden index "
                            f"ingest PATH --corpus {corpus}`.", code="corpus_not_found",
                       param="corpus")
    if corpus is not None:
        active = {c: v for c, v in active.items() if c == corpus}
    return {"object": "list", "active": active,
            "data": [version_view(v, active) for v in versions]}


@router.post("/versions/{version_id}/activate")
async def activate(version_id: int, admin: Admin,
                   state: State) -> dict[str, Any]:
    retrieval = _retrieval(state)
    try:
        flip = await run_in_threadpool(retrieval.activate, version_id, admin.key_id)
    except VersionError as exc:
        exists = await run_in_threadpool(retrieval.versions.get, version_id)
        if exists is None:
            raise APIError(404, f"No index version {version_id}. GET /admin/retrieval/versions "
                                "lists them.", code="version_not_found",
                           param="version_id") from exc
        raise APIError(409, f"Version {version_id} cannot be activated: {exc}. Only 'ready' "
                            "versions can be served; re-run `warden index ingest`.",
                       code="version_not_ready", param="version_id") from exc
    return flip_view(flip)


@router.post("/rollback")
async def rollback(admin: Admin, state: State, body: RollbackBody | None = None
                   ) -> dict[str, Any]:
    retrieval = _retrieval(state)
    corpus = (body.corpus if body else None) or retrieval.config.default_corpus
    try:
        flip = await run_in_threadpool(retrieval.rollback, corpus, admin.key_id)
    except VersionError as exc:
        known = await run_in_threadpool(retrieval.list_versions, corpus)
        if not known:
            raise APIError(404, f"corpus '{corpus}' has no versions. Create it with `warden "
                                f"index ingest PATH --corpus {corpus}`.",
                           code="corpus_not_found", param="corpus") from exc
        raise APIError(409, f"{exc}. Activate a specific version instead: POST "
                            "/admin/retrieval/versions/{id}/activate.",
                       code="nothing_to_roll_back", param="corpus") from exc
    return flip_view(flip)


@router.get("/health")
async def health(state: State, corpus: str | None = Query(None, pattern=CORPUS_PATTERN)
                 ) -> dict[str, Any]:
    """The prefix-leakage check on the active version: BM25 and the reader see only chunk
    text, stored text matches its address, no quarantined chunk is indexed."""
    retrieval = _retrieval(state)
    name = corpus or retrieval.config.default_corpus
    report = await run_in_threadpool(retrieval.health, name)
    if report.version is None and not await run_in_threadpool(retrieval.list_versions, name):
        raise APIError(404, f"corpus '{name}' has no versions. Create it with `warden index "
                            f"ingest PATH --corpus {name}`.", code="corpus_not_found",
                       param="corpus")
    return {"corpus": report.corpus, "version": report.version, "ok": report.ok,
            "rows_checked": report.rows_checked, "problems": report.problems}
