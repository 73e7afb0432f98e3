"""The Files API for batch input and output: POST /v1/files (multipart, purpose=batch),
GET /v1/files, GET /v1/files/{id}, GET /v1/files/{id}/content. A key sees only its files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response

from warden.api.auth import Authenticated, authenticate
from warden.api.routes.batch import answer, batch_service
from warden.api.state import State

router = APIRouter(prefix="/v1", tags=["batch"], dependencies=[Depends(authenticate)])


@router.post("/files")
async def upload_file(principal: Authenticated, state: State,
                      file: Annotated[UploadFile, File(description="The JSONL input file.")],
                      purpose: Annotated[str, Form(description="'batch'.")]) -> dict[str, Any]:
    data = await file.read()
    return await answer(batch_service(state).upload, principal,
                        file.filename or "upload.jsonl", purpose, data)


@router.get("/files")
async def list_files(principal: Authenticated, state: State,
                     purpose: Annotated[Literal["batch", "batch_output"] | None,
                                        Query()] = None,
                     limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> dict[str, Any]:
    return await answer(batch_service(state).list_files, principal, purpose, limit)


@router.get("/files/{file_id}")
async def retrieve_file(file_id: str, principal: Authenticated, state: State
                        ) -> dict[str, Any]:
    return await answer(batch_service(state).file, principal, file_id)


@router.get("/files/{file_id}/content", response_model=None)
async def file_content(file_id: str, principal: Authenticated, state: State) -> Response:
    data = await answer(batch_service(state).content, principal, file_id)
    return Response(data, media_type="application/jsonl")
