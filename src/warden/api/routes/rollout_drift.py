"""GET /admin/drift: PSI per traffic feature, current window against the baseline window
(docs/rollout.md); the values also go to /metrics as warden_drift_psi{feature}.

    ?model=NAME (repeatable)   only these public model names
    ?current_s=, ?baseline_s=  window lengths (default: rollouts.drift)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from warden.api.auth import require_admin
from warden.api.state import State
from warden.rollout.drift_windows import drift_windows

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


# Ten years: longer windows overflow a datetime (and no store keeps samples that long).
MAX_WINDOW_S = 10 * 366 * 86_400.0


@router.get("/drift")
async def drift(state: State, model: list[str] = Query(default_factory=list),
                current_s: float | None = Query(None, gt=0, le=MAX_WINDOW_S),
                baseline_s: float | None = Query(None, gt=0, le=MAX_WINDOW_S)) -> dict[str, Any]:
    runtime = state.rollouts
    windows = await run_in_threadpool(lambda: drift_windows(
        runtime.reader, runtime.config.rollouts.drift, models=model,
        current=timedelta(seconds=current_s) if current_s else None,
        baseline=timedelta(seconds=baseline_s) if baseline_s else None))
    runtime.metrics.set_drift(windows.psi())
    return {"object": "drift.report", **windows.plain()}
