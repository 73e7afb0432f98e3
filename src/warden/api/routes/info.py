"""What a client needs to pin and check what it evaluates (any valid key): token counts with
the engine's own tokenizer, and the corpora with their active versions.

    POST /v1/tokenize          {model, prompt | messages} -> {model, tokens, n_ctx}
    GET  /v1/corpora           every corpus: active version, ingest run, Merkle root, fusion
    GET  /v1/corpora/{name}    one corpus; ?health=true also runs the prefix-leakage check
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from warden.api.auth import authenticate
from warden.api.errors import APIError
from warden.api.pipeline.request import request_id
from warden.api.protocol import TokenizeRequest, messages_as_dicts
from warden.api.state import AppState, State
from warden.engine.base import GenerationRequest, SamplingParams

if TYPE_CHECKING:
    from warden.retrieval.service import Retrieval

router = APIRouter(prefix="/v1", tags=["info"], dependencies=[Depends(authenticate)])


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request, state: State) -> dict[str, Any]:
    model = body.model or state.service.default_model()
    engine = state.service.engine_for(model)
    probe = GenerationRequest(
        request_id=request_id(request), model=model, sampling=SamplingParams(max_tokens=1),
        prompt=body.prompt, messages=messages_as_dicts(body.messages) if body.messages else None)
    config = state.config.model_by_name(model)
    return {"object": "tokenize", "model": model,
            "tokens": engine.count_prompt_tokens(probe),
            "exact": config is not None and config.backend == "llamacpp",
            "n_ctx": config.n_ctx if config is not None else None}


def _retrieval(state: AppState) -> Retrieval:
    if state.retrieval is None:
        raise APIError(404, "retrieval is disabled on this server (retrieval.enabled: false "
                            "in warden.yaml), so it has no corpora.", code="retrieval_disabled")
    return state.retrieval


def _corpus_view(retrieval: Retrieval, corpus: str, version_id: int | None) -> dict[str, Any]:
    fusion = retrieval.config.fusion
    view: dict[str, Any] = {"corpus": corpus, "active_version": version_id,
                            "ingest_run_id": None, "merkle_root": None, "chunk_count": None,
                            "fusion": {"lexical_weight": fusion.lexical_weight,
                                       "vector_weight": fusion.vector_weight,
                                       "rrf_k": fusion.rrf_k,
                                       "per_doc_cap": fusion.per_doc_cap,
                                       "candidates": fusion.candidates},
                            "default_k": retrieval.config.default_k}
    for info in retrieval.list_versions(corpus):
        if info.id == version_id:
            view.update(ingest_run_id=info.ingest_run_id, merkle_root=info.merkle_root,
                        chunk_count=info.chunk_count)
    return view


@router.get("/corpora")
async def list_corpora(state: State) -> dict[str, Any]:
    retrieval = _retrieval(state)
    pointers = await run_in_threadpool(retrieval.versions.pointers)
    data = [await run_in_threadpool(_corpus_view, retrieval, corpus, version)
            for corpus, version in sorted(pointers.items())]
    return {"object": "list", "data": data}


@router.get("/corpora/{corpus}")
async def get_corpus(corpus: str, state: State,
                     health: bool = Query(False, description="Also run the prefix-leakage "
                                                             "check on the active version.")
                     ) -> dict[str, Any]:
    retrieval = _retrieval(state)
    pointers = await run_in_threadpool(retrieval.versions.pointers)
    if corpus not in pointers:
        raise APIError(404, f"No active version for corpus '{corpus}'. Ingest with `warden "
                            f"index ingest PATH --corpus {corpus}`.", code="corpus_not_found",
                       param="corpus")
    view = await run_in_threadpool(_corpus_view, retrieval, corpus, pointers[corpus])
    if health:
        report = await run_in_threadpool(retrieval.health, corpus)
        view["health"] = {"ok": report.ok, "rows_checked": report.rows_checked,
                          "problems": report.problems}
    return view
