"""Scheduled jobs run by the server (rollouts.schedules; docs/rollout.md), one replica at a
time per job (a lease in the store), each run recorded, each failure an incident.

    nightly_smoke   `warden eval run --suite smoke` against this deployment
    weekly_full     `warden eval run --suite full`
    canary:NAME     one canary interval (canary_runner) per running rollout, every
                    canary.interval_s: verdict, rollback, verification as `warden canary run`
    drift           PSI of the last window against the one before (warden_drift_psi), and
                    traffic samples older than drift.retention_days deleted

Jobs talk to the server over HTTP with the admin key in $WARDEN_SCHEDULER_KEY (the variable
is rollouts.schedules.admin_key_env), exactly like a Kubernetes CronJob running the same
commands would. Each tick a replica looks for due jobs; it takes the job's lease, checks that
the job is still due (another replica may have just run it), runs it in a worker thread while
renewing the lease, records the run and releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from warden.config import WardenConfig
from warden.rollout.drift_windows import drift_windows
from warden.rollout.leases import JobStore
from warden.rollout.metrics import RolloutMetrics
from warden.rollout.state import Status
from warden.rollout.timing import every, is_due
from warden.rollout.traffic import TrafficReader
from warden.rollout.view import RolloutView
from warden.store.incidents import Incidents

log = logging.getLogger(__name__)

TICK_S = 5.0
Outcome = tuple[str, dict[str, Any]]  # (ok | failed | error, detail)


@dataclass(frozen=True)
class Job:
    name: str
    work: Callable[[], Outcome]


def holder_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def server_url(config: WardenConfig) -> str:
    configured = config.rollouts.schedules.url
    if configured:
        return configured
    host = config.server.host
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # a wildcard bind: ask locally
    return f"http://{host}:{config.server.port}"


class Scheduler:
    def __init__(self, config: WardenConfig, jobs: JobStore, *, incidents: Incidents,
                 view: RolloutView, reader: TrafficReader, metrics: RolloutMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config = config
        self.settings = config.rollouts.schedules
        self.jobs = jobs
        self.incidents = incidents
        self.view = view
        self.reader = reader
        self.metrics = metrics
        self.clock = clock
        self.holder = holder_id()
        self.since = clock()
        self.url = server_url(config)
        self.out = Path(config.retrieval.data_dir) / "schedules"

    # what is due -------------------------------------------------------------------------
    def due(self, now: datetime) -> list[Job]:
        settings, found = self.settings, []
        for name, timing, work in (("nightly_smoke", settings.nightly_smoke, self._smoke),
                                   ("weekly_full", settings.weekly_full, self._full),
                                   ("drift", settings.drift, self._drift)):
            if is_due(timing, self.jobs.last_started(name), now, since=self.since):
                found.append(Job(name, work))
        if settings.canary:
            for name, state in sorted(self.view.all().items()):
                configured = self.config.rollouts.models.get(name)
                if state.status is not Status.RUNNING or configured is None:
                    continue
                job = f"canary:{name}"
                if every(configured.canary.interval_s, self.jobs.last_started(job), now):
                    found.append(Job(job, lambda n=name: self._canary(n)))  # type: ignore[misc]
        return found

    # running -----------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                for job in await asyncio.to_thread(self.due, self.clock()):
                    await self.launch(job)
            except Exception:
                log.exception("scheduler tick failed")

    async def launch(self, job: Job) -> str | None:
        """Run one job if this replica gets its lease and it is still due; its status."""
        lease_s = self.settings.lease_s
        if not await asyncio.to_thread(self.jobs.acquire, job.name, self.holder, lease_s):
            return None
        try:
            still = await asyncio.to_thread(self.due, self.clock())
            if job.name not in {j.name for j in still}:
                return None
            run_id = await asyncio.to_thread(self.jobs.start_run, job.name, self.holder)
            renewing = asyncio.create_task(self._renew(job.name, lease_s))
            try:
                status, detail = await asyncio.to_thread(self._safely, job)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
            incident = None
            if status != "ok":
                incident = await asyncio.to_thread(self._incident, job.name, status, detail)
            await asyncio.to_thread(self.jobs.finish_run, run_id, status, detail, incident)
            self.metrics.schedule_last.labels(job.name, status).set(self.clock().timestamp())
            return status
        finally:
            await asyncio.to_thread(self.jobs.release, job.name, self.holder)

    async def _renew(self, name: str, lease_s: float) -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            await asyncio.to_thread(self.jobs.acquire, name, self.holder, lease_s)

    @staticmethod
    def _safely(job: Job) -> Outcome:
        try:
            return job.work()
        except Exception as exc:
            log.exception("scheduled job %s failed", job.name)
            return "error", {"error": f"{type(exc).__name__}: {exc}"[:500]}

    def _incident(self, job: str, status: str, detail: dict[str, Any]) -> str | None:
        if detail.get("incident_id"):  # the job opened its own (a canary rollback)
            return str(detail["incident_id"])
        try:
            return self.incidents.open("schedule.failed", "medium",
                                       f"Scheduled job {job} {status}: "
                                       f"{detail.get('reason') or detail.get('error') or ''}"
                                       [:500], actor=f"schedule:{job}", detail=detail)
        except Exception:
            log.exception("could not open an incident for job %s", job)
            return None

    # the jobs ----------------------------------------------------------------------------
    def _key(self) -> str:
        key = os.environ.get(self.settings.admin_key_env, "").strip()
        if not key:
            raise RuntimeError(f"${self.settings.admin_key_env} is not set: put an admin key "
                               "there (`warden keys create --name scheduler --role admin`)")
        return key

    def _eval(self, name: str, suite: str, limit: int | None) -> Outcome:
        from rich.console import Console

        from warden.evaluation.runner import RunOptions, run

        out = self.out / f"{name}-{self.clock().strftime('%Y%m%dT%H%M%SZ')}"
        sink = io.StringIO()
        options = RunOptions(url=self.url, key=self._key(), suite=suite, limit=limit,
                             judge="none", out=out)

        def err(message: str) -> None:
            sink.write(message + "\n")

        code = run(options, Console(file=sink, width=120), err=err)
        detail = {"exit_code": code, "out": str(out), "log_tail": sink.getvalue()[-800:]}
        return ("ok" if code == 0 else "error" if code == 2 else "failed"), detail

    def _smoke(self) -> Outcome:
        return self._eval("nightly_smoke", "smoke", None)

    def _full(self) -> Outcome:
        return self._eval("weekly_full", "full", self.settings.full_items)

    def _canary(self, name: str) -> Outcome:
        from warden.evaluation.client import WardenClient
        from warden.rollout.admin_client import RolloutAdmin
        from warden.rollout.canary_runner import CanaryRunner

        key = self._key()
        out = self.out / f"canary-{name}-{self.clock().strftime('%Y%m%dT%H%M%SZ')}"
        with RolloutAdmin(self.url, key) as admin, WardenClient(self.url, key) as client:
            outcome = CanaryRunner(admin, client, name, admin_key=key, out=out).run_once()
        detail = {"verdict": outcome.verdict, "action": outcome.action,
                  "score": outcome.score, "reason": outcome.reason,
                  "verdict_id": outcome.verdict_id, "rolled_back": outcome.rolled_back,
                  "promoted": outcome.promoted,
                  "incident_id": (outcome.rollback or {}).get("incident_id")}
        return ("failed" if outcome.verdict in {"fail", "error"} else "ok"), detail

    def _drift(self) -> Outcome:
        drift = self.config.rollouts.drift
        windows = drift_windows(self.reader, drift, now=self.clock())
        self.metrics.set_drift(windows.psi())
        purged = self.reader.purge(timedelta(days=drift.retention_days), now=self.clock())
        plain = windows.plain()
        alerts = [f["feature"] for f in plain["features"] if f["verdict"] == "alert"]
        detail = {"worst": plain["worst"], "alerts": alerts, "purged_samples": purged,
                  "psi": {k: v for k, v in windows.psi().items() if v is not None}}
        if alerts:
            detail["reason"] = f"drift alert on {', '.join(alerts)}"
        return ("failed" if alerts else "ok"), detail
