"""A throwaway key prefix on the local Redis; every key under it is deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from tests.conftest import require_service


@contextmanager
def throwaway_prefix(url: str, tag: str) -> Iterator[str]:
    """`warden:<tag>:<random>:`; skipped locally and failed in CI when Redis is unreachable."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
        reachable = True
    except redis.RedisError:
        reachable = False
    if not reachable:
        client.close()
    require_service(reachable, f"Redis at {url}")
    prefix = f"warden:{tag}:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        stale = list(client.scan_iter(match=f"{prefix}*"))
        if stale:
            client.delete(*stale)
        client.close()
