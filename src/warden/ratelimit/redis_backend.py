"""Redis limiter shared by every gateway replica: one Lua script call per reserve/reconcile.

Keys for one API key share the hash tag ``{key_id}`` so they live in one cluster slot:

- ``<prefix>{key_id}:m:<minute>``  hash ``r`` (requests), ``t`` (tokens); TTL 120 s
- ``<prefix>{key_id}:d:<day>``     string, tokens today; TTL 2 days
- ``<prefix>{key_id}:leases``      sorted set, reservation id -> lease expiry (server time)

Concurrency is a set of leases rather than a counter: a replica that dies mid-request leaks
only its own slots, and each one frees itself when its lease runs out, even on a key that stays
busy (a counter with a refreshed TTL would never expire there). The lease also makes both calls
idempotent, so redis-py may retry them after a timeout without counting a request twice.

The scripts read the clock with ``TIME`` so replicas with skewed clocks agree on windows. The
rules are those of :mod:`warden.ratelimit.policy`; keep ``_RESERVE`` in step with ``violation``.
"""

from __future__ import annotations

import time
import uuid
from typing import cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    InvalidResponse,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    TimeoutError,
    TryAgainError,
)

from warden.ratelimit.policy import (
    DEFAULT_LEASE_TTL_S,
    Counts,
    Limits,
    Reason,
    Reservation,
    admit,
    denial,
    explain,
    oversize_error,
)

_MINUTE_KEY_TTL_S = 120
_DAY_KEY_TTL_S = 2 * 86_400

# KEYS[1] base key; ARGV: rpm, tpm, tokens_per_day, max_concurrent, tokens, lease_id,
# lease_ttl_s, minute_key_ttl_s, day_key_ttl_s.
# Returns {status, requests, minute_tokens, day_tokens, concurrent, sec, usec}: status is ''
# when admitted (counts are then those before this request) or the reason it was refused.
_RESERVE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local sec, usec = tonumber(t[1]), tonumber(t[2])
local now = sec + usec / 1000000
local base = KEYS[1]
local mkey = base .. ':m:' .. math.floor(sec / 60)
local dkey = base .. ':d:' .. math.floor(sec / 86400)
local lkey = base .. ':leases'
local rpm, tpm, tpd, maxc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local tokens, lease_id, lease_ttl = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])

redis.call('ZREMRANGEBYSCORE', lkey, '-inf', now)
local conc = redis.call('ZCARD', lkey)
local reqs = tonumber(redis.call('HGET', mkey, 'r') or 0)
local mtok = tonumber(redis.call('HGET', mkey, 't') or 0)
local dtok = tonumber(redis.call('GET', dkey) or 0)

if redis.call('ZSCORE', lkey, lease_id) then
  -- a retry of a reserve that already went through: report it, count nothing twice
  return {'', math.max(reqs - 1, 0), math.max(mtok - tokens, 0), math.max(dtok - tokens, 0),
          conc - 1, sec, usec}
end

local status = ''
if dtok + tokens > tpd then status = 'tokens_per_day'
elseif reqs >= rpm then status = 'requests'
elseif mtok + tokens > tpm then status = 'tokens'
elseif conc >= maxc then status = 'concurrency'
else
  redis.call('HINCRBY', mkey, 'r', 1)
  redis.call('HINCRBY', mkey, 't', tokens)
  redis.call('EXPIRE', mkey, ARGV[8])
  redis.call('INCRBY', dkey, tokens)
  redis.call('EXPIRE', dkey, ARGV[9])
  redis.call('ZADD', lkey, now + lease_ttl, lease_id)
  redis.call('EXPIRE', lkey, math.ceil(lease_ttl) + 1)
end
return {status, reqs, mtok, dtok, conc, sec, usec}
"""

# KEYS[1] base key; ARGV: minute_window, day_window, delta (actual - reserved), lease_id.
# Returns 1 if applied, 0 if this reservation was already reconciled (or its lease expired).
_RECONCILE = """
local base = KEYS[1]
if redis.call('ZREM', base .. ':leases', ARGV[4]) == 0 then return 0 end
local delta = tonumber(ARGV[3])
if delta ~= 0 then
  local mkey = base .. ':m:' .. ARGV[1]
  if redis.call('EXISTS', mkey) == 1 and redis.call('HINCRBY', mkey, 't', delta) < 0 then
    redis.call('HSET', mkey, 't', 0)
  end
  local dkey = base .. ':d:' .. ARGV[2]
  if redis.call('EXISTS', dkey) == 1 and redis.call('INCRBY', dkey, delta) < 0 then
    redis.call('SET', dkey, 0, 'KEEPTTL')
  end
end
return 1
"""

# Errors that mean "Redis cannot serve us right now", as opposed to a bug in a script.
_UNAVAILABLE = (
    ConnectionError,
    TimeoutError,
    ReadOnlyError,
    OutOfMemoryError,
    ClusterDownError,
    TryAgainError,
    InvalidResponse,  # the URL points at something that is not Redis
    OSError,
)


class LimiterUnavailable(Exception):
    """The shared limiter cannot be reached; the API answers 503 rather than skip limits."""


class RedisLimiter:
    def __init__(
        self,
        redis_url: str,
        key_prefix: str = "warden:rl:",
        *,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        socket_timeout_s: float = 1.0,
        max_connections: int = 50,
    ) -> None:
        self._prefix = key_prefix
        self._lease_ttl_s = lease_ttl_s
        # A burst of requests waits briefly for a pooled connection (each script call takes
        # well under a millisecond) instead of failing with "Too many connections".
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=max_connections,
            timeout=2 * socket_timeout_s,
            decode_responses=True,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            # Short and few retries: an unreachable Redis should become a prompt 503. Retrying
            # is safe because both scripts are idempotent per reservation id.
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
            health_check_interval=30,
        )
        self._client: Redis = Redis.from_pool(pool)
        self._reserve_script = self._client.register_script(_RESERVE)
        self._reconcile_script = self._client.register_script(_RECONCILE)

    def _base_key(self, key_id: str) -> str:
        return f"{self._prefix}{{{key_id}}}"

    async def reserve(self, key_id: str, limits: Limits, tokens: int) -> Reservation:
        # The local clock is fine here: it only picks retry_after for a request refused outright.
        too_large = oversize_error(limits, tokens, time.time())
        if too_large is not None:
            raise too_large
        lease_id = uuid.uuid4().hex
        args: list[str | int | float] = [
            limits.rpm,
            limits.tpm,
            limits.tokens_per_day,
            limits.max_concurrent,
            tokens,
            lease_id,
            self._lease_ttl_s,
            _MINUTE_KEY_TTL_S,
            _DAY_KEY_TTL_S,
        ]
        try:
            result = await self._reserve_script(keys=[self._base_key(key_id)], args=args)
        except _UNAVAILABLE as exc:
            raise LimiterUnavailable(f"rate limiter unavailable (Redis): {exc}") from exc
        status, requests, minute_tokens, day_tokens, concurrent, sec, usec = result
        counts = Counts(int(requests), int(minute_tokens), int(day_tokens), int(concurrent))
        reason = cast(Reason, status) if status else None
        decision = explain(reason, counts, limits, tokens, int(sec) + int(usec) / 1_000_000)
        if not decision.allowed:
            raise denial(decision, limits, tokens)
        return admit(key_id, tokens, limits, decision, lease_id)

    async def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        """Settle a reservation; raises ``LimiterUnavailable`` (callers log it and move on:
        the lease frees the slot eventually, the unrefunded tokens only make limits stricter).
        """
        if actual_tokens < 0:
            raise ValueError(f"actual_tokens must be >= 0, got {actual_tokens}")
        args: list[str | int | float] = [
            reservation.minute_window,
            reservation.day_window,
            actual_tokens - reservation.tokens,
            reservation.id,
        ]
        try:
            await self._reconcile_script(keys=[self._base_key(reservation.key_id)], args=args)
        except _UNAVAILABLE as exc:
            raise LimiterUnavailable(f"rate limiter unavailable (Redis): {exc}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
