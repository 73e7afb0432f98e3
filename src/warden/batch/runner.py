"""Runs batch jobs on this replica: claims a job's lease, validates its input file, answers
every line that has no stored answer yet, and writes the output and error files.

Each line goes through a LineExecutor: the API's own generation path (validation, guard,
retrieval, the key's quotas) run as batch priority, so it only uses idle engine capacity.
Each answer is stored the moment it exists, keyed by (batch, line): after a crash the job
resumes from the lines without an answer, and a line is never answered twice. Retries: a
per-minute limit is waited out (no attempt spent); a timeout or 5xx is retried up to
batch.max_attempts; anything else is the line's answer, written to the error file with its
reason. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from warden.batch.files import PURPOSE_OUT, FileNotFound, FileStore, derived_file_id
from warden.batch.jobs import ACTIVE, JobInfo, JobStore, LineResult, aware
from warden.batch.lanes import Lanes
from warden.batch.lease import Leases
from warden.batch.lines import (
    InputFileInvalid,
    InputLine,
    backoff_s,
    dump,
    error_line,
    line_request_id,
    parse_input,
    response_line,
    retry_kind,
)
from warden.batch.metrics import BatchMetrics
from warden.config.batch import BatchConfig
from warden.store.audit import AuditLog
from warden.store.keys import Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineOutcome:
    """What the endpoint answered for one line: a status and the body it would have sent."""

    status_code: int
    body: dict[str, Any]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    retry_after_s: float | None = None

    @property
    def error_code(self) -> str | None:
        error = self.body.get("error") if self.status_code >= 400 else None
        return error.get("code") if isinstance(error, dict) else None


class LineExecutor(Protocol):
    async def wait_for_room(self, model: str | None) -> None:
        """Return when the model has idle capacity for one more batch line."""
        ...

    async def execute(self, principal: Principal, endpoint: str, line: InputLine,
                      request_id: str) -> LineOutcome: ...


class LeaseLost(Exception):
    pass


@dataclass
class _Run:
    """One job's live counts on this replica (for its metrics)."""

    total: int
    completed: int = 0
    failed: int = 0
    running: int = 0

    @property
    def queued(self) -> int:
        return max(0, self.total - self.completed - self.failed - self.running)


class BatchRunner:
    def __init__(self, *, config: BatchConfig, jobs: JobStore, files: FileStore,
                 leases: Leases, executor: LineExecutor, lanes: Lanes,
                 principals: Callable[[str], Principal | None],
                 concurrency_of: Callable[[Principal], int], audit: AuditLog,
                 metrics: BatchMetrics) -> None:
        self._config = config
        self._jobs = jobs
        self._files = files
        self._leases = leases
        self._executor = executor
        self._lanes = lanes
        self._principals = principals          # key id -> the line principal, None if gone
        self._concurrency_of = concurrency_of  # lines of one job in flight for a principal
        self._audit = audit
        self._metrics = metrics
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()

    # lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    def kick(self) -> None:
        """Look for work now (a batch was created or cancelled here)."""
        self._kick.set()

    async def stop(self) -> None:
        """Stop claiming, abandon in-flight lines (they have no answer, so they run again
        later) and release the leases so another replica can take over at once."""
        tasks = [t for t in (self._poller, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running_jobs(self) -> list[str]:
        return list(self._tasks)

    async def _poll(self) -> None:
        while True:
            try:
                for batch_id in await asyncio.to_thread(self._jobs.claimable,
                                                        self._leases.owner):
                    if batch_id not in self._tasks and await asyncio.to_thread(
                            self._leases.claim, batch_id):
                        task = asyncio.get_running_loop().create_task(self._run(batch_id))
                        self._tasks[batch_id] = task
            except Exception:
                log.exception("batch poll failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.poll_interval_s):
                    await self._kick.wait()
            self._kick.clear()

    async def _run(self, batch_id: str) -> None:
        lost = asyncio.Event()
        renewer = asyncio.get_running_loop().create_task(self._keep_lease(batch_id, lost))
        try:
            await self._drive(batch_id, lost)
        except (LeaseLost, asyncio.CancelledError):
            log.info("batch %s: stopped on this replica", batch_id)
        except Exception:
            log.exception("batch %s failed on this replica; another attempt will resume it",
                          batch_id)
        finally:
            renewer.cancel()
            self._metrics.job_gone(batch_id)
            self._tasks.pop(batch_id, None)
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(self._leases.release, batch_id))

    async def _keep_lease(self, batch_id: str, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._config.lease_ttl_s / 3)
            try:
                if not await asyncio.to_thread(self._leases.renew, batch_id):
                    lost.set()
                    return
            except Exception:
                log.warning("batch %s: lease renewal failed", batch_id, exc_info=True)

    # one job ----------------------------------------------------------------------------
    async def _drive(self, batch_id: str, lost: asyncio.Event) -> None:
        lines: list[InputLine] | None = None
        while not lost.is_set():
            job = await asyncio.to_thread(self._jobs.load, batch_id)
            if job is None or job.status not in ACTIVE:
                return
            if job.status == "validating":
                lines = await self._validate(job)
            elif job.status == "in_progress":
                lines = lines if lines is not None else await self._parse(job)
                await self._process(job, lines, lost)
            else:
                final = "completed" if job.status == "finalizing" else "cancelled"
                await self._finalize(job, final, expected=(job.status,))
                return
        raise LeaseLost(batch_id)

    async def _parse(self, job: JobInfo) -> list[InputLine]:
        data = await asyncio.to_thread(self._files.content, job.key_id, job.input_file_id)
        return await asyncio.to_thread(parse_input, data, job.endpoint, self._config.max_lines)

    async def _validate(self, job: JobInfo) -> list[InputLine] | None:
        try:
            lines = await self._parse(job)
        except (InputFileInvalid, FileNotFound) as exc:
            errors = exc.errors if isinstance(exc, InputFileInvalid) else [
                {"code": "file_not_found", "line": None, "param": "input_file_id",
                 "message": f"the input file {job.input_file_id} no longer exists"}]
            await self._move(job, ("validating",), "failed", errors=errors)
            await self._record_end(job, "failed", None, None, errors=len(errors))
            return None
        await self._move(job, ("validating",), "in_progress", total_lines=len(lines))
        return lines

    async def _move(self, job: JobInfo, expected: tuple[str, ...], status: str,
                    **values: Any) -> bool:
        moved = await asyncio.to_thread(self._jobs.transition, job.id, self._leases.owner,
                                        expected, status, **values)
        if not moved:
            current = await asyncio.to_thread(self._jobs.load, job.id)
            if current is None or current.lease_owner != self._leases.owner:
                raise LeaseLost(job.id)
        return moved

    async def _process(self, job: JobInfo, lines: list[InputLine], lost: asyncio.Event
                       ) -> None:
        principal = await asyncio.to_thread(self._principals, job.key_id)
        answered = await asyncio.to_thread(self._jobs.answered, job.id)
        pending = deque(line for line in lines if line.line_no not in answered)
        progress = await asyncio.to_thread(self._jobs.progress, job.id)
        run = _Run(total=len(lines), completed=progress.completed, failed=progress.failed)
        self._publish(job.id, run)
        if principal is None:  # the key was revoked or expired: every line says so
            for line in pending:
                await self._store(job, run, line, None, attempts=0, reason=(
                    "key_revoked", "the API key that created this batch is no longer active"))
        else:
            workers = [asyncio.get_running_loop().create_task(
                self._work(job, principal, pending, run))
                for _ in range(max(1, min(self._concurrency_of(principal), len(pending))))]
            stop = await self._watch(job, workers, lost)
            if stop == "expired":
                answered = await asyncio.to_thread(self._jobs.answered, job.id)
                for line in lines:
                    if line.line_no not in answered:
                        await self._store(job, run, line, None, attempts=0, reason=(
                            "batch_expired", "This request could not be executed before the "
                            "completion window expired."))
                await self._finalize(job, "expired", expected=("in_progress",))
                return
            if stop is not None:
                return  # cancelling (the drive loop finalizes) or the lease is gone
        await self._move(job, ("in_progress",), "finalizing")

    async def _watch(self, job: JobInfo, workers: list[asyncio.Task[None]],
                     lost: asyncio.Event) -> str | None:
        """Wait for the workers; stop them early on a cancel, expiry or a lost lease."""
        pending_workers = set(workers)
        try:
            while pending_workers:
                done, pending_workers = await asyncio.wait(
                    pending_workers, timeout=self._config.poll_interval_s)
                for task in done:
                    task.result()  # a worker's failure fails the job run (it resumes)
                if lost.is_set():
                    return "lost"
                if datetime.now(UTC) >= aware(job.expires_at):
                    return "expired"
                current = await asyncio.to_thread(self._jobs.load, job.id)
                if current is None or current.status != "in_progress":
                    return "stopped"
            return None
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self, job: JobInfo, principal: Principal, pending: deque[InputLine],
                    run: _Run) -> None:
        while pending:
            await self._answer(job, principal, pending.popleft(), run)

    async def _answer(self, job: JobInfo, principal: Principal, line: InputLine,
                      run: _Run) -> None:
        if line.problem is not None:
            await self._store(job, run, line, None, attempts=0,
                              reason=(line.problem.code, line.problem.message))
            return
        attempts = 0
        lane = self._lanes.for_model(line.model)
        while True:
            await self._executor.wait_for_room(line.model)
            async with lane.slot():
                run.running += 1
                self._publish(job.id, run)
                try:
                    outcome = await self._executor.execute(
                        principal, job.endpoint, line, line_request_id(job.id, line.line_no))
                finally:
                    run.running -= 1
            kind = retry_kind(outcome.status_code, outcome.error_code)
            if kind == "transient":
                attempts += 1
            if kind is None or (kind == "transient" and attempts >= self._config.max_attempts):
                break
            self._metrics.retries.labels(kind).inc()
            await asyncio.sleep(backoff_s(kind, attempts, outcome.retry_after_s))
        await self._store(job, run, line, outcome, attempts=max(1, attempts))

    async def _store(self, job: JobInfo, run: _Run, line: InputLine,
                     outcome: LineOutcome | None, *, attempts: int,
                     reason: tuple[str, str] | None = None) -> None:
        if outcome is None:
            assert reason is not None
            item, ok, status = error_line(job.id, line, *reason), False, None
        else:
            status = outcome.status_code
            item, ok = response_line(job.id, line, status, outcome.body), 200 <= status < 300
        result = LineResult(line.line_no, line.custom_id, "completed" if ok else "failed",
                            status, dump(item), attempts=attempts,
                            **({} if outcome is None else {
                                "prompt_tokens": outcome.prompt_tokens,
                                "completion_tokens": outcome.completion_tokens,
                                "cached_tokens": outcome.cached_tokens}))
        if await asyncio.to_thread(self._jobs.record, job.id, result):
            run.completed += ok
            run.failed += not ok
            self._metrics.lines_total.labels(result.outcome).inc()
            self._metrics.tokens.labels("prompt").inc(result.prompt_tokens)
            self._metrics.tokens.labels("completion").inc(result.completion_tokens)
        self._publish(job.id, run)

    def _publish(self, batch_id: str, run: _Run) -> None:
        self._metrics.job_progress(batch_id, queued=run.queued, running=run.running,
                                   completed=run.completed, failed=run.failed)

    # the end of a job ---------------------------------------------------------------------
    async def _finalize(self, job: JobInfo, status: str, expected: tuple[str, ...]) -> None:
        """Write the output and error files (ids derived from the batch, so a finalize that
        is interrupted and run again replaces them), audit, then mark the job done."""
        results = await asyncio.to_thread(self._jobs.results, job.id)
        written: dict[str, str | None] = {}
        hashes: dict[str, str | None] = {}
        for kind, wanted in (("output", "completed"), ("error", "failed")):
            body = "".join(f"{line}\n" for outcome, line in results if outcome == wanted)
            data = body.encode("utf-8")
            written[kind], hashes[kind] = None, None
            if data:
                info = await asyncio.to_thread(
                    self._files.create, job.key_id, f"{job.id}_{kind}.jsonl", PURPOSE_OUT,
                    data, derived_file_id(job.id, kind))
                written[kind], hashes[kind] = info.id, info.sha256
        await self._record_end(job, status, written, hashes)
        await self._move(job, expected, status, output_file_id=written["output"],
                         error_file_id=written["error"])

    async def _record_end(self, job: JobInfo, status: str, written: dict[str, str | None] | None,
                          hashes: dict[str, str | None] | None, **extra: Any) -> None:
        progress = await asyncio.to_thread(self._jobs.progress, job.id)
        try:
            source = await asyncio.to_thread(self._files.get, job.key_id, job.input_file_id)
            input_sha: str | None = source.sha256
        except FileNotFound:
            input_sha = None
        payload = {"batch_id": job.id, "key_id": job.key_id, "endpoint": job.endpoint,
                   "input_file_id": job.input_file_id, "input_sha256": input_sha,
                   "output_file_id": (written or {}).get("output"),
                   "output_sha256": (hashes or {}).get("output"),
                   "error_file_id": (written or {}).get("error"),
                   "error_sha256": (hashes or {}).get("error"),
                   "request_counts": {**dataclasses.asdict(progress), "total": job.total_lines},
                   **extra}
        await asyncio.to_thread(self._audit.append, f"batch.{status}", job.key_id, payload)
        self._metrics.jobs.labels(status).inc()
