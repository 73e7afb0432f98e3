"""The Batch API: POST /v1/batches, GET /v1/batches, GET /v1/batches/{id},
POST /v1/batches/{id}/cancel, in OpenAI's shapes (docs/batch.md). A key sees only its own
batches; the work runs in the engine's idle capacity (warden.batch.runner)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Authenticated, authenticate
from warden.api.errors import APIError
from warden.api.state import AppState, State
from warden.batch.service import BatchProblem, BatchService

T = TypeVar("T")
router = APIRouter(prefix="/v1", tags=["batch"], dependencies=[Depends(authenticate)])


class BatchCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_file_id: str = Field(..., min_length=1, max_length=64)
    endpoint: Literal["/v1/chat/completions", "/v1/completions"]
    completion_window: Literal["24h"]
    metadata: dict[str, str] | None = Field(None, description="Up to 16 pairs.")
    output_expires_after: dict[str, Any] | None = Field(
        None, description="Accepted for compatibility; output files are kept until deleted.")

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and (len(value) > 16 or any(len(k) > 64 or len(v) > 512
                                                         for k, v in value.items())):
            raise ValueError("at most 16 pairs, keys up to 64 and values up to 512 characters")
        if value is not None and not all(_utf8(k) and _utf8(v) for k, v in value.items()):
            raise ValueError("keys and values must be valid Unicode text (no lone surrogates)")
        return value


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def batch_service(state: AppState) -> BatchService:
    if state.batch is None:
        raise APIError(404, "The Batch API is off on this server (batch.enabled: false in "
                            "warden.yaml).", code="batch_disabled")
    return state.batch


async def answer(call: Callable[..., T], *args: Any) -> T:
    """Run a BatchService call off the event loop; its refusals become API errors."""
    try:
        return await run_in_threadpool(call, *args)
    except BatchProblem as exc:
        raise APIError(exc.status, exc.message, code=exc.code, param=exc.param) from exc


@router.post("/batches")
async def create_batch(body: BatchCreateRequest, principal: Authenticated, state: State
                       ) -> dict[str, Any]:
    service = batch_service(state)
    created = await answer(service.create, principal, body.input_file_id, body.endpoint,
                           body.completion_window, body.metadata)
    service.runner.kick()
    return created


@router.get("/batches")
async def list_batches(principal: Authenticated, state: State,
                       after: Annotated[str | None, Query()] = None,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    return await answer(batch_service(state).list, principal, after, limit)


@router.get("/batches/{batch_id}")
async def retrieve_batch(batch_id: str, principal: Authenticated, state: State
                         ) -> dict[str, Any]:
    return await answer(batch_service(state).get, principal, batch_id)


@router.post("/batches/{batch_id}/cancel")
async def cancel_batch(batch_id: str, principal: Authenticated, state: State
                       ) -> dict[str, Any]:
    service = batch_service(state)
    cancelled = await answer(service.cancel, principal, batch_id)
    service.runner.kick()
    return cancelled
