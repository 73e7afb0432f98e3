"""Canary verdicts in the store, and when a challenger may be promoted (pure rule).

Every analysis is kept with its evidence (each KPI's verdict, interval, sample sizes and the
budget counters); the audit log gets the verdict, the score and the arm hashes, and
/metrics the latest verdict per rollout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from warden.rollout.tables import CanaryVerdictRow
from warden.store.db import Database


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoredVerdict:
    id: int
    rollout: str
    at: datetime
    verdict: str
    score: float | None
    action: str
    champion_hash: str | None
    challenger_hash: str | None
    actor: str
    evidence: dict[str, Any]

    def plain(self, evidence: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "rollout": self.rollout, "at": self.at.isoformat(),
            "verdict": self.verdict, "score": self.score, "action": self.action,
            "champion_hash": self.champion_hash, "challenger_hash": self.challenger_hash,
            "actor": self.actor}
        if evidence:
            out["evidence"] = self.evidence
        return out

    @classmethod
    def of(cls, row: CanaryVerdictRow) -> StoredVerdict:
        return cls(row.id, row.rollout, _aware(row.at), row.verdict, row.score, row.action,
                   row.champion_hash, row.challenger_hash, row.actor, dict(row.evidence))


class VerdictStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, rollout: str, *, verdict: str, score: float | None, action: str,
            champion_hash: str | None, challenger_hash: str | None, actor: str,
            evidence: dict[str, Any]) -> StoredVerdict:
        with self.db.session() as session:
            row = CanaryVerdictRow(rollout=rollout, at=datetime.now(UTC), verdict=verdict,
                                   score=score, action=action, champion_hash=champion_hash,
                                   challenger_hash=challenger_hash, actor=actor,
                                   evidence=evidence)
            session.add(row)
            session.commit()
            return StoredVerdict.of(row)

    def list(self, rollout: str, *, since: datetime | None = None,
             challenger_hash: str | None = None, limit: int = 500) -> list[StoredVerdict]:
        """Newest first."""
        query = select(CanaryVerdictRow).where(CanaryVerdictRow.rollout == rollout)
        if since is not None:
            query = query.where(CanaryVerdictRow.at >= since.astimezone(UTC))
        if challenger_hash is not None:
            query = query.where(CanaryVerdictRow.challenger_hash == challenger_hash)
        query = query.order_by(CanaryVerdictRow.id.desc()).limit(limit)
        with self.db.session() as session:
            return [StoredVerdict.of(r) for r in session.scalars(query)]


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str
    passing_since: datetime | None = None

    def plain(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "reason": self.reason,
                "passing_since": self.passing_since.isoformat() if self.passing_since
                else None}


def promotion_eligibility(verdicts: Sequence[StoredVerdict], *, duration: timedelta,
                          now: datetime, min_passes: int = 1) -> Eligibility:
    """The challenger may be promoted when its verdicts (newest first) end in an unbroken run
    of passes that began at least `duration` ago and counts at least `min_passes`. A fail
    anywhere in the challenger's verdicts blocks promotion (it should have been rolled back);
    marginal, inconclusive or an error breaks the run (the clock starts again)."""
    if not verdicts:
        return Eligibility(False, "no canary verdict yet for this challenger")
    if any(v.verdict == "fail" for v in verdicts):
        failed = next(v for v in verdicts if v.verdict == "fail")
        return Eligibility(False, f"the canary failed at {failed.at.isoformat()} (verdict "
                                  f"{failed.id}); roll back instead")
    run = []
    for verdict in verdicts:
        if verdict.verdict != "pass":
            break
        run.append(verdict)
    if not run:
        latest = verdicts[0]
        return Eligibility(False, f"the latest verdict is {latest.verdict}, not pass")
    since = run[-1].at
    held = now - since
    if held < duration:
        return Eligibility(False, f"passing for {held.total_seconds():.0f} s of the required "
                                  f"{duration.total_seconds():.0f} s", since)
    if len(run) < min_passes:
        return Eligibility(False, f"{len(run)} passing intervals, {min_passes} needed", since)
    return Eligibility(True, f"passing since {since.isoformat()} ({len(run)} intervals)",
                       since)
