"""The Batch API's operations, for the HTTP routes: files and batches, always scoped to the
calling key (another key's object is "not found"), plus the runner that executes jobs.
Built once by the API's composition root; the routes only translate HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from warden.batch.files import PURPOSES_IN, FileNotFound, FileStore
from warden.batch.jobs import COMPLETION_WINDOWS, BatchNotFound, JobStore, NotCancellable
from warden.batch.lanes import Lanes
from warden.batch.lease import Leases, replica_owner
from warden.batch.lines import ENDPOINTS
from warden.batch.metrics import BatchMetrics
from warden.batch.objects import batch_object, file_object, page
from warden.batch.runner import BatchRunner, LineExecutor
from warden.batch.storage import LocalFileStorage
from warden.config import WardenConfig
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.keys import KeyInfo, Principal, Role
from warden.store.models import ApiKey

BATCH_KEY_SUFFIX = ":batch"  # limiter bucket of a key's batch lines under a batch tier


class BatchProblem(Exception):
    """A request the Batch API refuses; the route answers it with this status and code."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def check_batch_tiers(config: WardenConfig) -> None:
    problems = config.batch.tier_problems(config.tiers)
    if problems:
        raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class BatchService:
    config: WardenConfig
    db: Database
    files: FileStore
    jobs: JobStore
    runner: BatchRunner
    audit: AuditLog

    @classmethod
    def build(cls, config: WardenConfig, db: Database, audit: AuditLog, *,
              registry: CollectorRegistry, engines: Mapping[str, Any],
              executor: LineExecutor) -> BatchService:
        check_batch_tiers(config)
        batch = config.batch
        root = Path(batch.data_dir or Path(config.retrieval.data_dir) / "batch") / "files"
        files, jobs = FileStore(db, LocalFileStorage(root.expanduser())), JobStore(db)

        def principal_for(key_id: str) -> Principal | None:
            return line_principal(config, db, key_id)

        runner = BatchRunner(
            config=batch, jobs=jobs, files=files,
            leases=Leases(db, replica_owner(), batch.lease_ttl_s), executor=executor,
            lanes=Lanes(config), principals=principal_for,
            concurrency_of=lambda p: lines_in_flight(config, p), audit=audit,
            metrics=BatchMetrics(registry, engines))
        return cls(config, db, files, jobs, runner, audit)

    # files ------------------------------------------------------------------------------
    def upload(self, principal: Principal, filename: str, purpose: str, data: bytes
               ) -> dict[str, Any]:
        if purpose not in PURPOSES_IN:
            raise BatchProblem(400, "invalid_value", f"purpose must be one of "
                               f"{list(PURPOSES_IN)} on this server", "purpose")
        limit = self.config.batch.max_file_bytes
        if len(data) > limit:
            raise BatchProblem(413, "request_too_large", f"the file has {len(data)} bytes; "
                               f"at most {limit} (batch.max_file_bytes)", "file")
        if not data.strip():
            raise BatchProblem(400, "invalid_value", "the file is empty", "file")
        # A client's file name is kept for display only; make it storable whatever it holds.
        shown = filename.encode("utf-8", "replace").decode("utf-8")[:255] or "upload.jsonl"
        return file_object(self.files.create(principal.key_id, shown, purpose, data))

    def file(self, principal: Principal, file_id: str) -> dict[str, Any]:
        _well_formed(file_id, FILE_ID, _no_file)
        try:
            return file_object(self.files.get(principal.key_id, file_id))
        except FileNotFound as exc:
            raise _no_file(file_id) from exc

    def content(self, principal: Principal, file_id: str) -> bytes:
        _well_formed(file_id, FILE_ID, _no_file)
        try:
            return self.files.content(principal.key_id, file_id)
        except FileNotFound as exc:
            raise _no_file(file_id) from exc

    def list_files(self, principal: Principal, purpose: str | None, limit: int
                   ) -> dict[str, Any]:
        infos = self.files.newest(principal.key_id, purpose=purpose, limit=limit)
        return page([file_object(i) for i in infos], has_more=False)

    # batches ----------------------------------------------------------------------------
    def create(self, principal: Principal, input_file_id: str, endpoint: str,
               completion_window: str, metadata: dict[str, str] | None) -> dict[str, Any]:
        if endpoint not in ENDPOINTS:
            raise BatchProblem(400, "invalid_value", f"endpoint must be one of "
                               f"{list(ENDPOINTS)}", "endpoint")
        if completion_window not in COMPLETION_WINDOWS:
            raise BatchProblem(400, "invalid_value", f"completion_window must be one of "
                               f"{list(COMPLETION_WINDOWS)}", "completion_window")
        _well_formed(input_file_id, FILE_ID, lambda i: _no_file(i, param="input_file_id"))
        try:
            source = self.files.get(principal.key_id, input_file_id)
        except FileNotFound as exc:
            raise _no_file(input_file_id, param="input_file_id") from exc
        if source.purpose != "batch":
            raise BatchProblem(400, "invalid_value", f"file {input_file_id} has purpose "
                               f"'{source.purpose}'; upload the input with purpose 'batch'",
                               "input_file_id")
        job = self.jobs.create(principal.key_id, endpoint, input_file_id, completion_window,
                               metadata)
        self.audit.append("batch.created", principal.key_id, {
            "batch_id": job.id, "key_id": principal.key_id, "endpoint": endpoint,
            "input_file_id": input_file_id, "input_sha256": source.sha256,
            "input_bytes": source.bytes, "completion_window": completion_window})
        return self._object(job.id, principal)

    def get(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        return self._object(batch_id, principal)

    def list(self, principal: Principal, after: str | None, limit: int) -> dict[str, Any]:
        if after is not None:
            _well_formed(after, BATCH_ID, lambda i: _no_batch(i, param="after"))
        try:
            jobs, more = self.jobs.newest(principal.key_id, after=after, limit=limit)
        except BatchNotFound as exc:
            raise _no_batch(exc.batch_id, param="after") from exc
        return page([batch_object(j, self.jobs.progress(j.id)) for j in jobs], more)

    def cancel(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        _well_formed(batch_id, BATCH_ID, _no_batch)
        try:
            self.jobs.request_cancel(principal.key_id, batch_id)
        except BatchNotFound as exc:
            raise _no_batch(batch_id) from exc
        except NotCancellable as exc:
            raise BatchProblem(409, "batch_not_cancellable", f"batch {batch_id} is already "
                               f"{exc.status}; only validating or in-progress batches can be "
                               "cancelled") from exc
        return self._object(batch_id, principal)

    def _object(self, batch_id: str, principal: Principal) -> dict[str, Any]:
        _well_formed(batch_id, BATCH_ID, _no_batch)
        try:
            job = self.jobs.get(principal.key_id, batch_id)
        except BatchNotFound as exc:
            raise _no_batch(batch_id) from exc
        return batch_object(job, self.jobs.progress(job.id))


FILE_ID = re.compile(r"^file-[0-9a-f]{24}$")
BATCH_ID = re.compile(r"^batch_[0-9a-f]{24}$")


def _shown(value: str, pattern: re.Pattern[str]) -> str:
    """An id as the message may repeat it: only well-formed ids are echoed back."""
    return f"'{value}'" if pattern.match(value) else "(not a well-formed id)"


def _no_file(file_id: str, param: str = "file_id") -> BatchProblem:
    return BatchProblem(404, "file_not_found", f"No such file: {_shown(file_id, FILE_ID)} "
                        "(files are visible only to the key that uploaded them; GET /v1/files "
                        "lists yours)", param)


def _no_batch(batch_id: str, param: str = "batch_id") -> BatchProblem:
    return BatchProblem(404, "batch_not_found", f"No such batch: {_shown(batch_id, BATCH_ID)} "
                        "(batches are visible only to the key that created them; GET "
                        "/v1/batches lists yours)", param)


def _well_formed(value: str, pattern: re.Pattern[str],
                 missing: Callable[[str], BatchProblem]) -> None:
    if not pattern.match(value):
        raise missing(value)


def line_principal(config: WardenConfig, db: Database, key_id: str) -> Principal | None:
    """Who a job's lines run as: the creating key while it is active, under the batch tier
    its tier maps to (own counters, so a batch budget never eats interactive quota)."""
    with db.session() as session:
        row = session.get(ApiKey, key_id)
    if row is None:
        return None
    info = KeyInfo(row.id, row.name, row.role, row.tier, row.created_at, row.expires_at,
                   row.revoked_at)
    if info.status != "active":
        return None
    role: Role = "admin" if row.role == "admin" else "user"
    mapped = config.batch.tiers.get(row.tier)
    if mapped is not None:
        return Principal(f"{row.id}{BATCH_KEY_SUFFIX}", row.name, role, mapped)
    return Principal(row.id, row.name, role, row.tier)


def lines_in_flight(config: WardenConfig, principal: Principal) -> int:
    """A job's lines in flight: within its tier's max_concurrent, and half of it when the
    lines share the key's interactive counters, so the key's own live requests still fit."""
    tier = config.tiers.get(principal.tier)
    if tier is None:
        return 1
    if principal.key_id.endswith(BATCH_KEY_SUFFIX):
        return tier.max_concurrent
    return max(1, tier.max_concurrent // 2)
