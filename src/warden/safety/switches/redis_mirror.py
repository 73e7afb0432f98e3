"""Kill-switch state mirrored in Redis so replicas see a flip without waiting on the database.

    <prefix>state     hash: switch name -> JSON of its state
    <prefix>version   the generation of that snapshot (the newest switch_events id in it)

The database is the source of truth; Redis is a fast copy. A snapshot is only ever replaced
by one of the same or a newer generation (one Lua call, atomic), so two replicas publishing
out of order cannot leave an older state behind. When Redis is unreachable, callers fall back
to the database and this mirror stays quiet for a back-off period instead of adding a timeout
to every refresh.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS: state hash, version key. ARGV: generation, then name, json, name, json, ...
_PUBLISH = """
local current = tonumber(redis.call('GET', KEYS[2]) or '-1')
local generation = tonumber(ARGV[1])
if generation < current then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

_BACKOFF_S = 5.0

Snapshot = dict[str, dict[str, Any]]  # name -> plain state (JSON-able)


class RedisMirror:
    def __init__(self, url: str, prefix: str, *, timeout_s: float = 0.3) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                            socket_connect_timeout=timeout_s,
                                            decode_responses=True)
        self._state_key, self._version_key = f"{prefix}state", f"{prefix}version"
        self._publish = self._client.register_script(_PUBLISH)
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: Exception) -> None:
        with self._lock:
            first = self.available
            self._down_until = time.monotonic() + _BACKOFF_S
        if first:  # one line per outage, not one per refresh
            log.warning("switch mirror: Redis %s failed (%s); reading switches from the "
                        "database for %.0f s", what, exc, _BACKOFF_S)

    def read(self) -> tuple[int, Snapshot] | None:
        """(generation, snapshot), or None when Redis has none or cannot be reached."""
        if not self.available:
            return None
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.get(self._version_key)
            pipe.hgetall(self._state_key)
            version, raw = pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None
        if version is None:
            return None
        return int(version), {name: json.loads(body) for name, body in raw.items()}

    def publish(self, generation: int, snapshot: Snapshot) -> bool:
        """Replace the mirror unless it already holds a newer generation."""
        if not self.available:
            return False
        args: list[Any] = [generation]
        for name, state in sorted(snapshot.items()):
            args += [name, json.dumps(state, sort_keys=True)]
        try:
            return bool(self._publish(keys=[self._state_key, self._version_key], args=args))
        except (RedisError, OSError) as exc:
            self._failed("publish", exc)
            return False

    def close(self) -> None:
        self._client.close()
