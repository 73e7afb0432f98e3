"""Admin routes: keys and the audit chain. Admin role only; every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from warden.api.auth import Admin, forget_cached_key, require_admin
from warden.api.errors import APIError
from warden.api.state import State
from warden.store.incidents import IncidentNotFound, IncidentView
from warden.store.keys import KeyInfo, KeyNotFound

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class CreateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)
    tier: str | None = None
    role: Literal["user", "admin"] = "user"
    expires_in_days: int | None = Field(None, ge=1, le=3650)


def key_view(info: KeyInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "role": info.role, "tier": info.tier,
            "status": info.status, "created_at": info.created_at.isoformat(),
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None}


@router.get("/keys")
async def list_keys(state: State) -> dict[str, Any]:
    keys = await run_in_threadpool(state.keys.list)
    return {"object": "list", "data": [key_view(k) for k in keys]}


@router.post("/keys", status_code=201)
async def create_key(body: CreateKey, admin: Admin,
                     state: State) -> dict[str, Any]:
    tier = body.tier or state.config.auth.default_tier
    if tier not in state.config.tiers:
        raise APIError(400, f"Unknown tier '{tier}'. Configured tiers: "
                            f"{', '.join(sorted(state.config.tiers))}.", param="tier",
                       code="unknown_tier")
    expires = datetime.now(UTC) + timedelta(days=body.expires_in_days) \
        if body.expires_in_days else None
    info, secret = await run_in_threadpool(state.keys.create, body.name, body.role, tier, expires)
    await run_in_threadpool(state.audit.append, "key.create", admin.key_id,
                            {"key_id": info.id, "role": info.role, "tier": info.tier})
    return {**key_view(info), "key": secret}


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, admin: Admin,
                     state: State) -> dict[str, Any]:
    try:
        info = await run_in_threadpool(state.keys.revoke, key_id)
    except KeyNotFound as exc:
        raise APIError(404, f"No key with id '{key_id}'. See GET /admin/keys.",
                       code="key_not_found", param="key_id") from exc
    forget_cached_key(key_id)
    await run_in_threadpool(state.audit.append, "key.revoke", admin.key_id, {"key_id": key_id})
    return key_view(info)


@router.get("/audit/verify")
async def verify_audit(state: State) -> dict[str, Any]:
    checked, problem = await run_in_threadpool(state.audit.verify)
    return {"records": checked, "intact": problem is None,
            "first_problem": None if problem is None else
            {"seq": problem.seq, "problem": problem.problem}}


def incident_view(incident: IncidentView) -> dict[str, Any]:
    return incident.as_dict()


class ResolveIncident(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(..., min_length=1, max_length=2000)


@router.get("/incidents")
async def list_incidents(state: State, status: str | None = None) -> dict[str, Any]:
    found = await run_in_threadpool(state.incidents.list, status)
    return {"object": "list", "data": [incident_view(i) for i in found]}


@router.get("/incidents/{incident_id}")
async def show_incident(incident_id: str, state: State
                        ) -> dict[str, Any]:
    try:
        return incident_view(await run_in_threadpool(state.incidents.get, incident_id))
    except IncidentNotFound as exc:
        raise APIError(404, f"No incident '{incident_id}'. See GET /admin/incidents.",
                       code="incident_not_found", param="incident_id") from exc


@router.post("/incidents/{incident_id}/resolve")
async def resolve_incident(incident_id: str, body: ResolveIncident,
                           admin: Admin,
                           state: State) -> dict[str, Any]:
    try:
        view = await run_in_threadpool(state.incidents.resolve, incident_id, admin.key_id,
                                       body.note)
    except IncidentNotFound as exc:
        raise APIError(404, f"No incident '{incident_id}'.", code="incident_not_found",
                       param="incident_id") from exc
    await run_in_threadpool(state.audit.append, "incident.resolve", admin.key_id,
                            {"incident_id": incident_id})
    return incident_view(view)
