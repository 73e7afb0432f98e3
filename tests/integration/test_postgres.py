"""The scaled path's metadata store: PostgreSQL on this machine, for real."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.support.postgres import throwaway_databases
from tests.support.warden_server import MODEL, WardenServer
from warden.store.audit import AuditLog
from warden.store.db import open_database
from warden.store.keys import KeyStore

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with throwaway_databases() as urls:
        yield urls[0]


def test_migrations_keys_and_audit_on_postgres(pg_url: str) -> None:
    db = open_database(pg_url)
    db.migrate()  # idempotent: a second replica starting finds the schema current
    keys = KeyStore(db)
    info, secret = keys.create("pg-user", "user", "default")
    assert keys.authenticate(secret).key_id == info.id
    keys.revoke(info.id)
    assert keys.authenticate(secret) is None
    db.dispose()


def test_concurrent_audit_writers_never_fork_the_chain(pg_url: str) -> None:
    logs = [AuditLog(open_database(pg_url)) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: logs[i % 4].append("test.event", "t", {"i": i}), range(80)))
    checked, problem = logs[0].verify()
    assert problem is None and checked >= 80


def test_server_on_postgres_serves_the_openai_client(pg_url: str) -> None:
    with WardenServer({"store": {"url": pg_url}}) as server:
        key = server.create_key("pg")
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
        assert reply.choices[0].message.content
        with server.client() as http:
            ready = http.get("/readyz").json()
        assert ready["checks"]["database"] is True
        assert "audit chain intact: 81 records" in server.cli("audit", "verify").stdout
