"""The batch runner against a real store, with a scripted LineExecutor standing in for the
generation path: what each kind of answer becomes, retries, cancel, resume after a crash,
and one runner per job when two replicas share the store."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from warden.batch.files import FileStore
from warden.batch.jobs import JobInfo, JobStore
from warden.batch.lanes import Lane, Lanes
from warden.batch.lease import Leases
from warden.batch.lines import InputLine
from warden.batch.metrics import BatchMetrics
from warden.batch.runner import BatchRunner, LineOutcome
from warden.batch.storage import LocalFileStorage
from warden.config import WardenConfig
from warden.config.batch import BatchConfig
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.keys import Principal

ENDPOINT = "/v1/completions"
Behaviour = Callable[[InputLine, int], Awaitable[LineOutcome]]


def error(status: int, code: str, retry_after: float | None = None) -> LineOutcome:
    return LineOutcome(status, {"error": {"message": f"because {code}", "type": "x",
                                          "param": None, "code": code}},
                       retry_after_s=retry_after)


async def answer(line: InputLine, attempt: int) -> LineOutcome:
    return LineOutcome(200, {"text": f"answer to {line.custom_id}"}, prompt_tokens=3,
                       completion_tokens=5)


class Scripted:
    """Answers each line by its custom_id's prefix; records every call."""

    def __init__(self, rules: dict[str, Behaviour] | None = None) -> None:
        self.rules = rules or {}
        self.calls: list[tuple[str, int]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def wait_for_room(self, model: str | None) -> None:
        return None

    async def execute(self, principal: Principal, endpoint: str, line: InputLine,
                      request_id: str) -> LineOutcome:
        assert line.custom_id is not None and endpoint == ENDPOINT
        attempt = sum(1 for cid, _ in self.calls if cid == line.custom_id) + 1
        self.calls.append((line.custom_id, attempt))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            rule = next((b for prefix, b in self.rules.items()
                         if line.custom_id.startswith(prefix)), answer)
            return await rule(line, attempt)
        finally:
            self.in_flight -= 1


class Harness:
    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.files = FileStore(db, LocalFileStorage(root))
        self.jobs = JobStore(db)
        self.audit = AuditLog(db)
        self.config = BatchConfig(poll_interval_s=0.05, lease_ttl_s=2, max_attempts=3)

    def runner(self, executor: Scripted, owner: str = "hostA:1:a",
               in_flight: int = 4) -> BatchRunner:
        return BatchRunner(
            config=self.config, jobs=self.jobs, files=self.files,
            leases=Leases(self.db, owner, self.config.lease_ttl_s), executor=executor,
            lanes=Lanes(WardenConfig()), principals=lambda key: Principal(key, "n", "user",
                                                                         "default"),
            concurrency_of=lambda _: in_flight, audit=self.audit,
            metrics=BatchMetrics(CollectorRegistry(), {}))

    def submit(self, raw_lines: list[str], key: str = "alice") -> JobInfo:
        data = ("\n".join(raw_lines) + "\n").encode()
        source = self.files.create(key, "in.jsonl", "batch", data)
        return self.jobs.create(key, ENDPOINT, source.id, "24h", None)

    async def until(self, batch_id: str, statuses: tuple[str, ...], timeout: float = 10
                    ) -> JobInfo:
        async with asyncio.timeout(timeout):
            while True:
                job = self.jobs.load(batch_id)
                assert job is not None
                if job.status in statuses:
                    return job
                await asyncio.sleep(0.02)

    def output(self, job: JobInfo, kind: str) -> list[dict[str, Any]]:
        file_id = job.output_file_id if kind == "output" else job.error_file_id
        if file_id is None:
            return []
        return [json.loads(x) for x in self.files.content(job.key_id, file_id).splitlines()]


def line(custom_id: str, **body: Any) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                       "body": {"model": "smollm2-135m-instruct", "prompt": "hi", **body}})


@pytest.fixture()
def harness(db: Database, tmp_path: Path) -> Harness:
    return Harness(db, tmp_path / "files")


def test_every_line_gets_an_answer_or_an_error_line_with_its_reason(harness: Harness) -> None:
    executor = Scripted({
        "blocked": lambda _l, _a: _const(error(400, "content_filter")),
        "quota": lambda _l, _a: _const(error(429, "rate_limit_tokens_per_day", 3600)),
    })
    job = harness.submit([line("ok-1"), "{broken", line("blocked"), line("quota"),
                          line("ok-2")])

    async def scenario() -> JobInfo:
        runner = harness.runner(executor)
        runner.start()
        try:
            return await harness.until(job.id, ("completed",))
        finally:
            await runner.stop()

    done = asyncio.run(scenario())
    outputs, errors = harness.output(done, "output"), harness.output(done, "error")
    assert [o["custom_id"] for o in outputs] == ["ok-1", "ok-2"]
    assert outputs[0]["response"]["body"] == {"text": "answer to ok-1"}
    reasons = {e["custom_id"]: (e["response"] or {}).get("body", {}).get("error", {}).get(
        "code") or e["error"]["code"] for e in errors}
    assert reasons == {None: "invalid_json_line", "blocked": "content_filter",
                       "quota": "rate_limit_tokens_per_day"}
    assert done.total_lines == 5
    assert ("quota", 2) not in executor.calls  # a spent daily budget is an answer, not retried
    completed = _audit_payloads(harness.db, "batch.completed")
    assert len(completed) == 1 and completed[0]["batch_id"] == job.id
    out_bytes = harness.files.content("alice", done.output_file_id or "")
    assert completed[0]["output_sha256"] == hashlib.sha256(out_bytes).hexdigest()
    assert completed[0]["request_counts"]["completed"] == 2
    assert completed[0]["request_counts"]["failed"] == 3


def test_limits_are_waited_out_and_transient_failures_retried_then_reported(
        harness: Harness) -> None:
    async def paced(_l: InputLine, attempt: int) -> LineOutcome:
        return error(429, "rate_limit_requests", 0.01) if attempt <= 5 else await answer(_l, 1)

    async def flaky(_l: InputLine, attempt: int) -> LineOutcome:
        return error(504, "timeout") if attempt <= 2 else await answer(_l, 1)

    async def down(_l: InputLine, _a: int) -> LineOutcome:
        return error(502, "upstream_unavailable")

    harness.config = BatchConfig(poll_interval_s=0.05, lease_ttl_s=2, max_attempts=3)
    executor = Scripted({"paced": paced, "flaky": flaky, "down": down})
    job = harness.submit([line("paced"), line("flaky"), line("down")])

    async def scenario() -> JobInfo:
        runner = harness.runner(executor)
        runner.start()
        try:
            return await harness.until(job.id, ("completed",), timeout=30)
        finally:
            await runner.stop()

    done = asyncio.run(scenario())
    assert [o["custom_id"] for o in harness.output(done, "output")] == ["paced", "flaky"]
    [failed] = harness.output(done, "error")
    assert failed["custom_id"] == "down" and failed["response"]["status_code"] == 502
    assert sum(1 for cid, _ in executor.calls if cid == "down") == 3  # max_attempts
    assert sum(1 for cid, _ in executor.calls if cid == "paced") == 6  # pacing is free


def test_cancel_stops_further_lines(harness: Harness) -> None:
    gate = asyncio.Event()

    async def held(_l: InputLine, _a: int) -> LineOutcome:
        await gate.wait()
        return await answer(_l, 1)

    executor = Scripted({"held": held})
    job = harness.submit([line("first"), line("second")] + [line(f"held-{i}")
                                                            for i in range(20)])

    async def scenario() -> tuple[JobInfo, int]:
        runner = harness.runner(executor, in_flight=2)
        runner.start()
        try:
            async with asyncio.timeout(10):
                while len(harness.jobs.answered(job.id)) < 2:
                    await asyncio.sleep(0.02)
            harness.jobs.request_cancel("alice", job.id)
            done = await harness.until(job.id, ("cancelled",))
            started = len(executor.calls)
            gate.set()
            await asyncio.sleep(0.3)
            assert len(executor.calls) == started  # nothing started after the cancel
            return done, started
        finally:
            await runner.stop()

    done, started = asyncio.run(scenario())
    assert started <= 4  # the two answered lines and at most two held in flight
    assert [o["custom_id"] for o in harness.output(done, "output")] == ["first", "second"]
    assert harness.output(done, "error") == []
    assert len(_audit_payloads(harness.db, "batch.cancelled")) == 1


def test_a_restarted_runner_resumes_from_the_first_unanswered_line(harness: Harness) -> None:
    stuck = asyncio.Event()

    async def never(_l: InputLine, _a: int) -> LineOutcome:
        await stuck.wait()
        raise AssertionError("unreachable")

    first_executor = Scripted({f"line-{i:02d}": never for i in range(6, 30)})
    job = harness.submit([line(f"line-{i:02d}") for i in range(30)])

    async def scenario() -> JobInfo:
        first = harness.runner(first_executor, owner="hostA:1:first")
        first.start()
        async with asyncio.timeout(10):
            while len(harness.jobs.answered(job.id)) < 6:
                await asyncio.sleep(0.02)
        before = harness.jobs.results(job.id)
        await first.stop()  # the crash: in-flight lines die without an answer
        second_executor = Scripted()
        second = harness.runner(second_executor, owner="hostA:2:second")
        second.start()
        try:
            done = await harness.until(job.id, ("completed",))
        finally:
            await second.stop()
        # the second runner ran exactly the lines without an answer, each once
        assert sorted(cid for cid, _ in second_executor.calls) == \
            [f"line-{i:02d}" for i in range(6, 30)]
        assert harness.jobs.results(job.id)[:6] == before  # earlier answers kept as they were
        return done

    done = asyncio.run(scenario())
    ids = [o["custom_id"] for o in harness.output(done, "output")]
    assert ids == [f"line-{i:02d}" for i in range(30)]  # every line once, in input order


def test_two_replicas_never_run_the_same_job_at_once(harness: Harness) -> None:
    executor_a, executor_b = Scripted(), Scripted()
    jobs = [harness.submit([line(f"{n}-{i}") for i in range(8)], key=f"k{n}") for n in range(3)]

    async def scenario() -> None:
        a = harness.runner(executor_a, owner="hostA:1:a")
        b = harness.runner(executor_b, owner="hostB:2:b")
        a.start()
        b.start()
        try:
            for job in jobs:
                await harness.until(job.id, ("completed",))
        finally:
            await asyncio.gather(a.stop(), b.stop())

    asyncio.run(scenario())
    calls = [cid for cid, _ in executor_a.calls + executor_b.calls]
    assert sorted(calls) == sorted(f"{n}-{i}" for n in range(3) for i in range(8))


def test_an_upstream_lane_caps_lines_in_flight_and_their_start_rate() -> None:
    clock = [0.0]
    starts: list[float] = []

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    async def scenario() -> int:
        lane = Lane(2, rps=4.0, clock=lambda: clock[0], sleep=sleep)
        most = 0

        async def one() -> None:
            nonlocal most
            async with lane.slot():
                starts.append(clock[0])
                most = max(most, lane.in_flight)
                await asyncio.sleep(0)

        await asyncio.gather(*(one() for _ in range(6)))
        return most

    assert asyncio.run(scenario()) <= 2
    assert all(b - a >= 0.25 - 1e-9 for a, b in itertools.pairwise(starts))


def test_lanes_follow_the_backend() -> None:
    config = WardenConfig.model_validate({
        "models": [{"name": "local", "max_batch": 6},
                   {"name": "remote", "backend": "upstream",
                    "upstream": {"base_url": "http://vllm:8000/v1"}}],
        "batch": {"upstream_max_in_flight": 3, "upstream_rps": 1.5}})
    lanes = Lanes(config)
    assert (lanes.for_model("local").max_in_flight, lanes.for_model("local").rps) == (6, None)
    assert (lanes.for_model("remote").max_in_flight, lanes.for_model("remote").rps) == (3, 1.5)
    assert lanes.for_model("unknown") is lanes.for_model("local")


async def _const(outcome: LineOutcome) -> LineOutcome:
    return outcome


def _audit_payloads(db: Database, kind: str) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from warden.store.models import AuditRecord

    with db.session() as session:
        return [r.payload for r in session.scalars(
            select(AuditRecord).where(AuditRecord.kind == kind))]
