"""The Batch API's operations as the routes call them: refusals that name the field, key
scoping, and who a job's lines run as (batch tiers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.batch.files import FileStore
from warden.batch.jobs import JobStore
from warden.batch.service import (
    BatchProblem,
    BatchService,
    check_batch_tiers,
    line_principal,
    lines_in_flight,
)
from warden.batch.storage import LocalFileStorage
from warden.config import WardenConfig
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.keys import KeyStore, Principal

LINE = (b'{"custom_id": "a", "method": "POST", "url": "/v1/completions", '
        b'"body": {"model": "m", "prompt": "hi"}}\n')


def service(db: Database, tmp_path: Path, config: WardenConfig | None = None) -> BatchService:
    config = config or WardenConfig.model_validate({"batch": {"max_file_bytes": 1000}})
    return BatchService(config, db, FileStore(db, LocalFileStorage(tmp_path)), JobStore(db),
                        runner=None, audit=AuditLog(db))  # type: ignore[arg-type]


def alice() -> Principal:
    return Principal("alice", "alice", "user", "default")


@pytest.mark.parametrize(("purpose", "data", "status", "param"), [
    ("fine-tune", LINE, 400, "purpose"),
    ("batch", b"  \n", 400, "file"),
    ("batch", b"x" * 1001, 413, "file"),
])
def test_uploads_refused_with_the_field_to_fix(db: Database, tmp_path: Path, purpose: str,
                                                data: bytes, status: int, param: str) -> None:
    with pytest.raises(BatchProblem) as refused:
        service(db, tmp_path).upload(alice(), "in.jsonl", purpose, data)
    assert (refused.value.status, refused.value.param) == (status, param)


def test_create_checks_endpoint_window_and_whose_file_it_is(db: Database,
                                                             tmp_path: Path) -> None:
    batch = service(db, tmp_path)
    uploaded = batch.upload(alice(), "in.jsonl", "batch", LINE)
    for endpoint, window, param in (("/v1/embeddings", "24h", "endpoint"),
                                    ("/v1/completions", "1h", "completion_window")):
        with pytest.raises(BatchProblem) as refused:
            batch.create(alice(), uploaded["id"], endpoint, window, None)
        assert refused.value.param == param
    bob = Principal("bob", "bob", "user", "default")
    with pytest.raises(BatchProblem) as hidden:
        batch.create(bob, uploaded["id"], "/v1/completions", "24h", None)
    assert (hidden.value.status, hidden.value.code) == (404, "file_not_found")
    created = batch.create(alice(), uploaded["id"], "/v1/completions", "24h", {"team": "x"})
    assert created["status"] == "validating" and created["metadata"] == {"team": "x"}
    assert created["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    with pytest.raises(BatchProblem) as other:
        batch.get(bob, created["id"])
    assert other.value.code == "batch_not_found"
    assert [b["id"] for b in batch.list(alice(), None, 20)["data"]] == [created["id"]]
    assert batch.list(bob, None, 20)["data"] == []


def test_lines_run_as_the_key_under_its_batch_tier_while_the_key_is_active(
        db: Database) -> None:
    config = WardenConfig.model_validate({
        "tiers": {"default": {"max_concurrent": 4}, "bulk": {"max_concurrent": 8}},
        "batch": {"tiers": {"default": "bulk"}}})
    keys = KeyStore(db)
    mapped, _ = keys.create("m", tier="default")
    plain = Principal("p", "p", "user", "pro")
    as_batch = line_principal(config, db, mapped.id)
    assert as_batch is not None
    assert (as_batch.key_id, as_batch.tier) == (f"{mapped.id}:batch", "bulk")
    assert lines_in_flight(config, as_batch) == 8       # its own counters: all of them
    assert lines_in_flight(WardenConfig(), plain) == 8  # shared with live requests: half
    keys.revoke(mapped.id)
    assert line_principal(config, db, mapped.id) is None
    assert line_principal(config, db, "nobody") is None


def test_a_batch_tier_must_exist() -> None:
    config = WardenConfig.model_validate({"batch": {"tiers": {"default": "nope"}}})
    with pytest.raises(ValueError, match=r"batch.tiers.default: 'nope' is not a configured"):
        check_batch_tiers(config)


def test_malformed_ids_are_not_found_and_never_echoed(db: Database, tmp_path: Path) -> None:
    batch = service(db, tmp_path)
    for call in (lambda: batch.file(alice(), "file-\ud800"),
                 lambda: batch.content(alice(), "../../etc/passwd"),
                 lambda: batch.get(alice(), "batch_<script>"),
                 lambda: batch.cancel(alice(), "x" * 500),
                 lambda: batch.list(alice(), "\ud800", 20)):
        with pytest.raises(BatchProblem) as missing:
            call()
        assert missing.value.status == 404 and "not a well-formed id" in missing.value.message
    uploaded = batch.upload(alice(), "odd-\ud800-name.jsonl", "batch", LINE)
    assert uploaded["filename"] == "odd-?-name.jsonl"  # storable, still recognisable
