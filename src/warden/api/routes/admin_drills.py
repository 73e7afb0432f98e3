"""POST /admin/drills: a drill's summary record, appended to the hash-chained audit log.

Drills (e.g. `warden drill kill-switch`) act through the admin API, so every flip they make
is audited already; this adds the drill's own verdict (`drill.<kind>`, actor = the admin key
id) so the evidence of "we practised and it worked" sits in the same chain. Admin role only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, require_admin
from warden.api.state import State

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class DrillCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field(..., min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:\-]+$",
                        description="What was drilled, e.g. a switch name.")
    step: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    outcome: Literal["ok", "failed", "not_verifiable"]
    detail: str = Field("", max_length=300)


class DrillTargetVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:\-]+$")
    verdict: Literal["passed", "failed", "unverifiable"]
    reason: str = Field("", max_length=300)


class DrillRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(..., pattern=r"^[a-z][a-z_]{0,39}$", description="e.g. kill_switch; "
                      "audited as drill.<kind>.")
    passed: bool
    started_at: datetime
    finished_at: datetime
    checks: list[DrillCheck] = Field(..., min_length=1, max_length=500)
    switches: list[DrillTargetVerdict] = Field(default_factory=list, max_length=200,
                                               description="The verdict per drilled target.")


@router.post("/drills", status_code=201)
async def record_drill(body: DrillRecord, admin: Admin,
                       state: State) -> dict[str, Any]:
    kind = f"drill.{body.kind}"
    payload = body.model_dump(mode="json", exclude={"kind"})
    seq = await run_in_threadpool(state.audit.append, kind, admin.key_id, payload)
    return {"object": "drill", "kind": kind, "seq": seq, "passed": body.passed,
            "checks": len(body.checks)}
