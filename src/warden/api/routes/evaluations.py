"""Evidence of evaluation runs (any valid key): an eval client records each run it made
against this server in the hash-chained audit log, so every release decision can point at
the run, its frozen manifest and its report.

    POST /v1/evaluations   {run_id, manifest_hash, report_hash, suite, dataset_sha256,
                            verdict, gates: {name: verdict}}  -> {"audit_seq": N}
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Authenticated, authenticate
from warden.api.state import State

router = APIRouter(prefix="/v1", tags=["evaluation"], dependencies=[Depends(authenticate)])

SHA256 = r"^[0-9a-f]{64}$"
Verdict = Literal["pass", "fail", "inconclusive", "health_failed"]


class EvalRunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: str = Field(..., min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    manifest_hash: str = Field(..., pattern=SHA256)
    report_hash: str | None = Field(None, pattern=SHA256)
    suite: str = Field(..., min_length=1, max_length=32)
    dataset_sha256: list[str] = Field(default_factory=list, max_length=32)
    verdict: Verdict
    gates: dict[str, Literal["pass", "fail", "inconclusive", "unmeasured"]] = Field(
        default_factory=dict, max_length=64)


@router.post("/evaluations", status_code=201)
async def record_run(body: EvalRunRecord, principal: Authenticated, state: State
                     ) -> dict[str, Any]:
    seq = await run_in_threadpool(state.audit.append, "eval.run", principal.key_id,
                                  body.model_dump())
    return {"object": "evaluation.record", "run_id": body.run_id, "audit_seq": seq}
