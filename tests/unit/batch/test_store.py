"""Files, jobs, results and leases in a real (SQLite) store."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from warden.batch.files import FileNotFound, FileStore, derived_file_id
from warden.batch.jobs import BatchNotFound, JobStore, LineResult, NotCancellable
from warden.batch.lease import Leases, holder_is_gone, replica_owner
from warden.batch.storage import LocalFileStorage
from warden.store.db import Database


@pytest.fixture()
def files(db: Database, tmp_path: Path) -> FileStore:
    return FileStore(db, LocalFileStorage(tmp_path / "files"))


def test_a_file_is_visible_only_to_the_key_that_uploaded_it(files: FileStore) -> None:
    info = files.create("alice", "in.jsonl", "batch", b'{"x": 1}\n')
    assert files.get("alice", info.id).bytes == 9 and len(info.sha256) == 64
    assert files.content("alice", info.id) == b'{"x": 1}\n'
    for call in (files.get, files.content):
        with pytest.raises(FileNotFound):
            call("mallory", info.id)
    assert [f.id for f in files.newest("alice")] == [info.id]
    assert files.newest("mallory") == []


def test_output_files_are_rewritten_in_place(files: FileStore, tmp_path: Path) -> None:
    file_id = derived_file_id("batch_1", "output")
    files.create("alice", "out.jsonl", "batch_output", b"first\n", file_id)
    files.create("alice", "out.jsonl", "batch_output", b"second\n", file_id)
    assert files.content("alice", file_id) == b"second\n"
    assert [p.name for p in (tmp_path / "files").iterdir()] == [file_id]  # no temp leftovers


def test_jobs_are_scoped_to_their_key_and_listed_newest_first(db: Database) -> None:
    jobs = JobStore(db)
    made = [jobs.create("alice", "/v1/completions", "file-1", "24h", {"n": str(i)})
            for i in range(3)]
    jobs.create("bob", "/v1/completions", "file-2", "24h", None)
    with pytest.raises(BatchNotFound):
        jobs.get("bob", made[0].id)
    first, more = jobs.newest("alice", limit=2)
    assert [j.id for j in first] == [made[2].id, made[1].id] and more
    rest, more = jobs.newest("alice", after=first[-1].id, limit=2)
    assert [j.id for j in rest] == [made[0].id] and not more
    assert made[0].status == "validating"
    assert made[0].expires_at - made[0].created_at == timedelta(hours=24)


def test_a_line_is_answered_once_whoever_answers_it(db: Database) -> None:
    jobs = JobStore(db)
    job = jobs.create("alice", "/v1/completions", "file-1", "24h", None)
    first = LineResult(1, "a", "completed", 200, '{"first": true}', 5, 7)
    assert jobs.record(job.id, first)
    assert not jobs.record(job.id, LineResult(1, "a", "completed", 200, '{"again": true}', 5, 7))
    assert jobs.record(job.id, LineResult(2, "b", "failed", 400, '{"error": 1}'))
    assert jobs.answered(job.id) == {1, 2}
    assert jobs.results(job.id) == [("completed", '{"first": true}'), ("failed", '{"error": 1}')]
    progress = jobs.progress(job.id)
    assert (progress.completed, progress.failed, progress.prompt_tokens,
            progress.completion_tokens) == (1, 1, 5, 7)


def test_cancel_and_transitions_respect_status_and_lease(db: Database) -> None:
    jobs, leases = JobStore(db), Leases(db, "host:1:a", ttl_s=30)
    job = jobs.create("alice", "/v1/completions", "file-1", "24h", None)
    assert leases.claim(job.id)
    assert not jobs.transition(job.id, "someone-else", ("validating",), "in_progress")
    assert jobs.transition(job.id, "host:1:a", ("validating",), "in_progress", total_lines=3)
    cancelled = jobs.request_cancel("alice", job.id)
    assert cancelled.status == "cancelling" and cancelled.cancelling_at is not None
    # the runner's own move loses against the cancel: it expected in_progress
    assert not jobs.transition(job.id, "host:1:a", ("in_progress",), "finalizing")
    assert jobs.transition(job.id, "host:1:a", ("cancelling",), "cancelled")
    with pytest.raises(NotCancellable):
        done = jobs.create("alice", "/v1/completions", "file-1", "24h", None)
        leases.claim(done.id)
        jobs.transition(done.id, "host:1:a", ("validating",), "failed")
        jobs.request_cancel("alice", done.id)
    with pytest.raises(BatchNotFound):
        jobs.request_cancel("bob", job.id)


def test_one_replica_holds_a_lease_until_it_expires(db: Database) -> None:
    jobs = JobStore(db)
    job = jobs.create("alice", "/v1/completions", "file-1", "24h", None)
    now = datetime.now(UTC)
    one, two = Leases(db, "hostx:1:a", ttl_s=30), Leases(db, "hostx:2:b", ttl_s=30)
    assert one.claim(job.id, now)
    assert not two.claim(job.id, now + timedelta(seconds=10))
    assert jobs.claimable("hostx:2:b", now + timedelta(seconds=10)) == []
    assert one.renew(job.id, now + timedelta(seconds=20))
    assert not two.claim(job.id, now + timedelta(seconds=40))  # renewed until 50
    assert two.claim(job.id, now + timedelta(seconds=51))
    assert not one.renew(job.id, now + timedelta(seconds=52))  # it knows it lost the lease
    two.release(job.id)
    assert one.claim(job.id, now + timedelta(seconds=53))


def test_a_lease_left_by_a_dead_process_on_this_host_passes_at_once(db: Database) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_owner = replica_owner().rsplit(":", 2)[0] + f":{int(gone.stdout)}:dead"
    assert holder_is_gone(dead_owner)
    assert not holder_is_gone(replica_owner())           # this very process
    assert not holder_is_gone("elsewhere:1:x", host="here")  # another host: wait for the TTL
    jobs = JobStore(db)
    job = jobs.create("alice", "/v1/completions", "file-1", "24h", None)
    assert Leases(db, dead_owner, ttl_s=3600).claim(job.id)
    assert jobs.claimable("me") == [job.id]
    assert Leases(db, replica_owner(), ttl_s=30).claim(job.id)
