"""The Files API for batch input and output: POST /v1/files (multipart, purpose=batch),
GET /v1/files, GET /v1/files/{id}, GET /v1/files/{id}/content. A key sees only its files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Authenticated, authenticate
from warden.api.routes.batch import batch_service, problem
from warden.api.state import State
from warden.batch.service import BatchProblem

router = APIRouter(prefix="/v1", tags=["batch"], dependencies=[Depends(authenticate)])


@router.post("/files")
async def upload_file(principal: Authenticated, state: State,
                      file: Annotated[UploadFile, File(description="The JSONL input file.")],
                      purpose: Annotated[str, Form(description="'batch'.")]) -> dict[str, Any]:
    service = batch_service(state)
    data = await file.read()
    try:
        return await run_in_threadpool(service.upload, principal, file.filename or "upload.jsonl",
                                       purpose, data)
    except BatchProblem as exc:
        raise problem(exc) from exc


@router.get("/files")
async def list_files(principal: Authenticated, state: State,
                     purpose: Annotated[str | None, Query()] = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
    return await run_in_threadpool(batch_service(state).list_files, principal, purpose, limit)


@router.get("/files/{file_id}")
async def retrieve_file(file_id: str, principal: Authenticated, state: State
                        ) -> dict[str, Any]:
    try:
        return await run_in_threadpool(batch_service(state).file, principal, file_id)
    except BatchProblem as exc:
        raise problem(exc) from exc


@router.get("/files/{file_id}/content", response_model=None)
async def file_content(file_id: str, principal: Authenticated, state: State) -> Response:
    try:
        data = await run_in_threadpool(batch_service(state).content, principal, file_id)
    except BatchProblem as exc:
        raise problem(exc) from exc
    return Response(data, media_type="application/jsonl")
