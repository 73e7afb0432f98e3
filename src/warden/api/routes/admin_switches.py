"""Admin routes for kill switches and incident notes. Admin role only; every change audited."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, require_admin
from warden.api.errors import APIError
from warden.api.routes.admin import incident_view
from warden.api.state import State
from warden.safety.switches.names import known_switch_names, unknown_switch_problem
from warden.safety.switches.store import ReasonRequired, SwitchError, SwitchState, UnknownSwitch
from warden.store.incidents import IncidentNotFound

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class FlipSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool
    reason: str | None = Field(None, max_length=2000, description="Required to turn off.")


class IncidentNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(..., min_length=1, max_length=2000)


def switch_view(state: SwitchState, effective: bool) -> dict[str, Any]:
    return {"name": state.name, "on": state.on, "effective_on": effective,
            "reason": state.reason, "actor": state.actor,
            "changed_at": state.changed_at.isoformat() if state.changed_at else None,
            "incident_id": state.incident_id}


@router.get("/switches")
async def list_switches(state: State) -> dict[str, Any]:
    switches = state.switches
    # An admin looking wants the newest state; on failure the last known one is shown, with
    # the reason it may be old in refresh_error.
    with contextlib.suppress(Exception):
        await run_in_threadpool(switches.refresh)
    return {"object": "list", "refresh_error": switches.last_error,
            "data": [switch_view(s, switches.is_on(s.name)) for s in switches.all()],
            "triggers": [t.plain() for t in state.triggers.status.values()]}


@router.post("/switches/{name}")
async def flip_switch(name: str, body: FlipSwitch, admin: Admin,
                      state: State) -> dict[str, Any]:
    problem = unknown_switch_problem(name, known_switch_names(state.config))
    if problem is not None:  # a well-formed name nothing honours would switch nothing
        raise APIError(404, f"{problem}. See GET /admin/switches.", code="switch_not_found",
                       param="name")
    try:
        changed = await run_in_threadpool(state.switches.set, name, body.on, admin.key_id,
                                          body.reason)
    except UnknownSwitch as exc:
        raise APIError(404, f"{exc}. See GET /admin/switches.", code="switch_not_found",
                       param="name") from exc
    except ReasonRequired as exc:
        raise APIError(400, str(exc), code="reason_required", param="reason") from exc
    except SwitchError as exc:
        raise APIError(503, f"{exc}; retry shortly.", code="switch_store_busy") from exc
    return switch_view(changed, state.switches.is_on(name))


@router.post("/incidents/{incident_id}/events", status_code=201)
async def add_incident_note(incident_id: str, body: IncidentNote,
                            admin: Admin,
                            state: State) -> dict[str, Any]:
    try:
        await run_in_threadpool(state.incidents.add_event, incident_id, "note", admin.key_id,
                                {"note": body.note})
    except IncidentNotFound as exc:
        raise APIError(404, f"No incident '{incident_id}'. See GET /admin/incidents.",
                       code="incident_not_found", param="incident_id") from exc
    await run_in_threadpool(state.audit.append, "incident.note", admin.key_id,
                            {"incident_id": incident_id})
    return incident_view(await run_in_threadpool(state.incidents.get, incident_id))
