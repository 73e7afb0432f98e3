"""Throwaway PostgreSQL databases on the local server, dropped when the test is done."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.conftest import require_service

PG_ADMIN_URL = os.environ.get("WARDEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_databases(count: int = 1) -> Iterator[list[str]]:
    """`count` fresh, empty databases (URLs); skipped locally and failed in CI when the
    server is unreachable."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        admin = None
    require_service(admin is not None, f"PostgreSQL at {PG_ADMIN_URL}")
    assert admin is not None
    names = [f"warden_test_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
        yield [f"{base}/{name}" for name in names]
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
