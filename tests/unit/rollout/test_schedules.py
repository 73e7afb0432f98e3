"""Schedules: when a job is due, one replica per job by a lease in the store, every run
recorded, every failure an incident."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from warden.config.rollouts import JobConfig
from warden.rollout.leases import JobStore
from warden.rollout.metrics import RolloutMetrics
from warden.rollout.scheduler import Job, Scheduler, server_url
from warden.rollout.state import RolloutStore
from warden.rollout.timing import is_due, last_slot
from warden.rollout.traffic import TrafficReader
from warden.rollout.view import RolloutView
from warden.store.db import Database
from warden.store.incidents import Incidents

from .conftest import warden_config

SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
NIGHTLY, WEEKLY = JobConfig(at="02:00"), JobConfig(at="03:00", weekday="sun")


def test_daily_and_weekly_slots() -> None:
    assert last_slot(NIGHTLY, SUNDAY + timedelta(hours=1)) == SUNDAY - timedelta(hours=22)
    assert last_slot(NIGHTLY, SUNDAY + timedelta(hours=2)) == SUNDAY + timedelta(hours=2)
    assert last_slot(WEEKLY, SUNDAY + timedelta(days=3)) == SUNDAY + timedelta(hours=3)
    assert last_slot(WEEKLY, SUNDAY + timedelta(hours=1)) == SUNDAY - timedelta(days=7) + \
        timedelta(hours=3)


def test_a_job_is_due_once_per_slot_and_never_at_once_on_a_new_server() -> None:
    started = SUNDAY + timedelta(hours=1)
    assert not is_due(NIGHTLY, None, started, since=started)
    at_two = SUNDAY + timedelta(hours=2, minutes=1)
    assert is_due(NIGHTLY, None, at_two, since=started)
    assert not is_due(NIGHTLY, at_two, at_two + timedelta(hours=5), since=started)
    missed = at_two + timedelta(days=3)  # the server was down for three nights: one run
    assert is_due(NIGHTLY, at_two, missed, since=started)
    hourly = JobConfig(every_s=3600)
    assert is_due(hourly, None, started, since=started)
    assert not is_due(hourly, started, started + timedelta(minutes=59), since=started)
    assert not is_due(JobConfig(every_s=60, enabled=False), None, started, since=started)


def test_a_lease_is_exclusive_until_it_expires(db: Database) -> None:
    jobs, now = JobStore(db), datetime.now(UTC)
    assert jobs.acquire("drift", "a", 30, now=now)
    assert not jobs.acquire("drift", "b", 30, now=now + timedelta(seconds=10))
    assert jobs.acquire("drift", "a", 30, now=now + timedelta(seconds=20))  # a renewal
    assert jobs.acquire("drift", "b", 30, now=now + timedelta(seconds=51))  # a died
    jobs.release("drift", "a")  # not a's any more: nothing happens
    assert jobs.leases()[0]["holder"] == "b"
    jobs.release("drift", "b")
    assert jobs.leases() == []


def scheduler(db: Database, **schedules: object) -> Scheduler:
    config = warden_config()
    config = config.model_copy(update={"rollouts": config.rollouts.model_copy(update={
        "schedules": config.rollouts.schedules.model_copy(update=schedules)})})
    return Scheduler(config, JobStore(db), incidents=Incidents(db),
                     view=RolloutView(RolloutStore(db)), reader=TrafficReader(db),
                     metrics=RolloutMetrics(CollectorRegistry()))


def test_two_replicas_run_a_due_job_once_and_a_failure_opens_an_incident(db: Database
                                                                         ) -> None:
    ran: list[str] = []
    gate = threading.Event()

    def work() -> tuple[str, dict[str, object]]:
        ran.append("x")
        gate.wait(2)
        return "failed", {"reason": "2 gates failed"}

    first, second = scheduler(db), scheduler(db)

    async def both() -> list[str | None]:
        one = asyncio.create_task(first.launch(Job("drift", work)))
        await asyncio.sleep(0.3)
        other = await second.launch(Job("drift", work))  # the lease is taken: skipped
        gate.set()
        return [await one, other]

    assert asyncio.run(both()) == ["failed", None]
    assert ran == ["x"]
    run = JobStore(db).runs("drift")[0]
    assert (run.status, run.holder, run.detail) == ("failed", first.holder,
                                                    {"reason": "2 gates failed"})
    incident = Incidents(db).get(run.incident_id or "")
    assert incident.kind == "schedule.failed" and "2 gates failed" in incident.summary
    assert JobStore(db).leases() == []
    # Just run: no longer due on either replica.
    assert "drift" not in {j.name for j in second.due(datetime.now(UTC))}


def test_a_job_that_raises_is_an_error_and_a_missing_key_says_which_variable(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_SCHEDULER_KEY", raising=False)
    replica = scheduler(db)
    replica.since -= timedelta(days=2)  # a 02:00 slot has passed since it started
    assert asyncio.run(replica.launch(Job("nightly_smoke", replica._smoke))) == "error"
    run = JobStore(db).runs("nightly_smoke")[0]
    assert "$WARDEN_SCHEDULER_KEY is not set" in run.detail["error"]


def test_the_drift_job_exports_psi_and_purges_old_samples(db: Database) -> None:
    replica = scheduler(db)
    started = time.monotonic()
    status, detail = replica._drift()
    assert status == "ok" and detail["worst"] == "insufficient" and detail["purged_samples"] == 0
    assert time.monotonic() - started < 5


def test_the_jobs_talk_to_this_server_unless_told_otherwise() -> None:
    config = warden_config()
    assert server_url(config) == "http://127.0.0.1:8080"
    wide = config.model_copy(update={"server": config.server.model_copy(
        update={"host": "0.0.0.0", "port": 9000})})
    assert server_url(wide) == "http://127.0.0.1:9000"
