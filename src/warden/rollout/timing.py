"""When a scheduled job is due (pure).

    at: "02:00"                 daily at 02:00 UTC
    at: "03:00", weekday: sun   weekly, Sundays at 03:00 UTC
    every_s: 600                every 10 minutes
A job is due when its most recent scheduled moment (at or before now) is later than its last
start. A job that never ran is due at the first scheduled moment after `since` (when the
scheduler started): a new server does not run its nightly job at once. A server that was down
at 02:00 runs the nightly job when it comes back (once, not once per missed night). An
every_s job that never ran is due at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden.config.rollouts import WEEKDAYS, JobConfig


def last_slot(job: JobConfig, now: datetime) -> datetime | None:
    """The latest scheduled moment at or before `now` (None for an every_s job)."""
    if job.at is None:
        return None
    hour, minute = (int(part) for part in job.at.split(":"))
    now = now.astimezone(UTC)
    slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if slot > now:
        slot -= timedelta(days=1)
    if job.weekday is not None:
        back = (slot.weekday() - WEEKDAYS.index(job.weekday)) % 7
        slot -= timedelta(days=back)
    return slot


def is_due(job: JobConfig, last_started: datetime | None, now: datetime, *,
           since: datetime) -> bool:
    if not job.enabled:
        return False
    if job.every_s is not None:
        return every(job.every_s, last_started, now)
    slot = last_slot(job, now)
    assert slot is not None
    return slot >= since if last_started is None else last_started < slot


def every(seconds: float, last_started: datetime | None, now: datetime) -> bool:
    """Due for a job run every `seconds` (the canary, per rollout)."""
    return last_started is None or (now - last_started).total_seconds() >= seconds
