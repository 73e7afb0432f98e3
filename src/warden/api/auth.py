"""Bearer-key authentication. Every route but /healthz and /readyz depends on it."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from warden.api.errors import APIError
from warden.api.state import State
from warden.store.keys import Principal
from warden.telemetry.tracing import span

# A verified key is trusted for this long, so a revocation reaches every replica within it
# while a hot path costs no database round trip.
_CACHE_TTL_S = 1.0
_cache: dict[str, tuple[float, Principal]] = {}


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = request.headers.get("x-api-key", "").strip()
    return api_key or None


async def authenticate(request: Request, state: State) -> Principal:
    with span("warden.auth") as traced:
        principal = await _authenticate(request, state)
        if traced is not None:  # the key's public id and tier, never the key
            traced.set_attributes({"warden.key_id": principal.key_id,
                                   "warden.tier": principal.tier})
        return principal


async def _authenticate(request: Request, state: State) -> Principal:
    presented = _presented_key(request)
    if presented is None:
        raise APIError(401, "Missing API key. Send 'Authorization: Bearer wk_...'; create a key "
                            "with `warden keys create --name NAME`.", code="missing_api_key",
                       headers={"www-authenticate": "Bearer"})
    now = time.monotonic()
    cached = _cache.get(presented)
    if cached and cached[0] > now:
        principal = cached[1]
    else:
        found = await run_in_threadpool(state.keys.authenticate, presented)
        if found is None:
            _cache.pop(presented, None)
            raise APIError(401, "Invalid API key: unknown, revoked or expired.",
                           code="invalid_api_key", headers={"www-authenticate": "Bearer"})
        principal = found
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[presented] = (now + _CACHE_TTL_S, principal)
    request.state.principal = principal
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]


async def require_admin(principal: Authenticated) -> Principal:
    if principal.role != "admin":
        raise APIError(403, "This route needs an admin key (role=admin).",
                       code="admin_required")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]


def forget_cached_key(key_id: str) -> None:
    """Drop cached principals for a key at once, in this process (others expire in 1 s)."""
    for presented, (_, principal) in list(_cache.items()):
        if principal.key_id == key_id:
            _cache.pop(presented, None)
