"""The advisory store: decisions, the review queue, modes and prompt variants (tables.py).

Every method is one short transaction. Reads that depend on the review queue first resolve
overdue reviews to the safe decision, so a timed-out item is never shown as pending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from warden.config.advisory import ACTION_TYPES
from warden.policy.decision import Decision, Mode, OverrideCategory, override_category
from warden.policy.measurement import DecisionFact
from warden.policy.modes import effective_mode, initial_mode
from warden.policy.tables import (
    AdvisoryDecisionRow,
    AdvisoryModeEventRow,
    AdvisoryModeRow,
    AdvisoryReviewRow,
    AdvisoryVariantRow,
)
from warden.store.db import Database
from warden.store.retry import write_retrying

_PG_ADVISORY_LOCK = 0x57A2E5  # any constant: mode changes and reviews queue on it
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class AdvisoryConflict(ValueError):
    """A change the current state does not allow (a resolved review, a moved mode); the
    message says why and what to do."""


class AdvisoryNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ModeState:
    action_type: str
    mode: Mode
    since: datetime | None   # None: never changed (in this mode since the first decision)
    actor: str
    reason: str | None

    def plain(self) -> dict[str, Any]:
        return {"action_type": self.action_type, "mode": self.mode.value,
                "since": self.since.isoformat() if self.since else None,
                "actor": self.actor, "reason": self.reason}


@dataclass(frozen=True)
class Review:
    advisory_id: str
    action_type: str
    status: str
    created_at: datetime
    due_at: datetime
    reviewer: str | None
    decided_at: datetime | None
    human_decision: str | None
    override: bool | None
    category: str | None
    notes: str | None

    @classmethod
    def of(cls, row: AdvisoryReviewRow) -> Review:
        return cls(row.advisory_id, row.action_type, row.status, aware(row.created_at),
                   aware(row.due_at), row.reviewer,
                   aware(row.decided_at) if row.decided_at else None, row.human_decision,
                   row.override, row.category, row.notes)

    def plain(self) -> dict[str, Any]:
        return {"advisory_id": self.advisory_id, "action_type": self.action_type,
                "status": self.status, "created_at": self.created_at.isoformat(),
                "due_at": self.due_at.isoformat(), "reviewer": self.reviewer,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "human_decision": self.human_decision, "override": self.override,
                "category": self.category, "notes": self.notes}


def decision_plain(row: AdvisoryDecisionRow) -> dict[str, Any]:
    return {"advisory_id": row.id, "created_at": aware(row.created_at).isoformat(),
            "action_type": row.action_type, "actor_role": row.actor_role,
            "risk_tier": row.risk_tier, "mode": row.mode, "prompt_variant": row.prompt_variant,
            "prompt_hash": row.prompt_hash, "model": row.model,
            "decision": row.advisor_decision, "reasoning": row.reasoning,
            "reasoning_hash": row.reasoning_hash, "current_decision": row.current_decision,
            "current_source": row.current_source, "enforced_decision": row.enforced_decision,
            "requires_human": row.requires_human, "fail_safe": row.fail_safe,
            "error": row.error, "latency_ms": row.latency_ms, "situation": row.situation,
            "request_id": row.request_id, "key_id": row.key_id}


class AdvisoryStore:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.clock = clock

    def _write(self, work: Callable[[Session], T]) -> T:
        return write_retrying(self.db, work, pg_lock=_PG_ADVISORY_LOCK)

    # decisions ------------------------------------------------------------------------------
    def record(self, row: AdvisoryDecisionRow, review_timeout_s: float | None) -> None:
        """Store a decision; with a timeout, also open its review (one transaction)."""

        def work(session: Session) -> None:
            session.add(row)
            if review_timeout_s is not None:
                session.add(AdvisoryReviewRow(
                    advisory_id=row.id, action_type=row.action_type, status="pending",
                    created_at=row.created_at,
                    due_at=row.created_at + timedelta(seconds=review_timeout_s)))

        self._write(work)

    def decision(self, advisory_id: str) -> tuple[dict[str, Any], Review | None] | None:
        with self.db.session() as session:
            row = session.get(AdvisoryDecisionRow, advisory_id)
            review = session.get(AdvisoryReviewRow, advisory_id)
            if row is None:
                return None
            return decision_plain(row), Review.of(review) if review else None

    def facts(self, since: datetime | None = None, action_type: str | None = None,
              prompt_variant: str | None = None) -> list[DecisionFact]:
        query = (select(AdvisoryDecisionRow, AdvisoryReviewRow)
                 .outerjoin(AdvisoryReviewRow,
                            AdvisoryReviewRow.advisory_id == AdvisoryDecisionRow.id)
                 .order_by(AdvisoryDecisionRow.created_at, AdvisoryDecisionRow.id))
        if since is not None:
            query = query.where(AdvisoryDecisionRow.created_at >= since)
        if action_type is not None:
            query = query.where(AdvisoryDecisionRow.action_type == action_type)
        if prompt_variant is not None:
            query = query.where(AdvisoryDecisionRow.prompt_variant == prompt_variant)
        with self.db.session() as session:
            return [_fact(d, r) for d, r in session.execute(query)]

    def baseline(self, prompt_variant: str, size: int) -> tuple[list[Decision], datetime | None]:
        """The first `size` advisor decisions of a variant, and when the last of them was made
        (None while the baseline is still filling)."""
        query = (select(AdvisoryDecisionRow.advisor_decision, AdvisoryDecisionRow.created_at)
                 .where(AdvisoryDecisionRow.prompt_variant == prompt_variant,
                        AdvisoryDecisionRow.advisor_decision.is_not(None))
                 .order_by(AdvisoryDecisionRow.created_at, AdvisoryDecisionRow.id).limit(size))
        with self.db.session() as session:
            rows = list(session.execute(query))
        decisions = [Decision(d) for d, _ in rows if d is not None]
        end = aware(rows[-1][1]) if len(rows) == size else None
        return decisions, end

    def reviewed(self, overrides_only: bool = False) -> list[dict[str, Any]]:
        """Decisions a human reviewed (only the corrections: overrides_only), oldest first."""
        query = (select(AdvisoryDecisionRow, AdvisoryReviewRow)
                 .join(AdvisoryReviewRow,
                       AdvisoryReviewRow.advisory_id == AdvisoryDecisionRow.id)
                 .where(AdvisoryReviewRow.status == "decided")
                 .order_by(AdvisoryReviewRow.decided_at))
        if overrides_only:
            query = query.where(AdvisoryReviewRow.override.is_(True))
        with self.db.session() as session:
            return [{**decision_plain(d), "review": Review.of(r).plain()}
                    for d, r in session.execute(query)]

    # review queue ----------------------------------------------------------------------------
    def expire_overdue(self, timeout_decision: Decision) -> list[str]:
        """Resolve every pending review past its due time to the safe decision."""
        now = self.clock()

        def work(session: Session) -> list[str]:
            due = list(session.scalars(select(AdvisoryReviewRow).where(
                AdvisoryReviewRow.status == "pending", AdvisoryReviewRow.due_at <= now)))
            for row in due:
                row.status, row.reviewer, row.decided_at = "timed_out", "timeout", now
                row.human_decision = timeout_decision.value
                session.execute(update(AdvisoryDecisionRow)
                                .where(AdvisoryDecisionRow.id == row.advisory_id)
                                .values(enforced_decision=timeout_decision.value))
            return [row.advisory_id for row in due]

        return self._write(work)

    def reviews(self, status: str | None = None, action_type: str | None = None,
                limit: int = 100) -> list[tuple[Review, dict[str, Any]]]:
        query = (select(AdvisoryReviewRow, AdvisoryDecisionRow)
                 .join(AdvisoryDecisionRow,
                       AdvisoryDecisionRow.id == AdvisoryReviewRow.advisory_id)
                 .order_by(AdvisoryReviewRow.created_at).limit(limit))
        if status is not None:
            query = query.where(AdvisoryReviewRow.status == status)
        if action_type is not None:
            query = query.where(AdvisoryReviewRow.action_type == action_type)
        with self.db.session() as session:
            return [(Review.of(r), decision_plain(d)) for r, d in session.execute(query)]

    def decide(self, advisory_id: str, reviewer: str, human: Decision, notes: str | None,
               category: OverrideCategory | None) -> tuple[Review, dict[str, Any]]:
        now = self.clock()

        def work(session: Session) -> tuple[Review, dict[str, Any]]:
            review = session.get(AdvisoryReviewRow, advisory_id)
            row = session.get(AdvisoryDecisionRow, advisory_id)
            if review is None or row is None:
                raise AdvisoryNotFound(f"no review for advisory '{advisory_id}': only "
                                     "advisories served in advisory mode wait for a reviewer")
            if review.status != "pending":
                raise AdvisoryConflict(f"advisory '{advisory_id}' was already resolved "
                                  f"({review.status} by {review.reviewer}); reviews are final")
            advisor = Decision(row.advisor_decision) if row.advisor_decision else None
            derived = override_category(advisor, human) if advisor else \
                OverrideCategory.UNCLEAR
            overridden = advisor != human
            if not overridden and category is not None:
                raise AdvisoryConflict("category is only for overrides: the reviewer agreed with "
                                  "the advisor; leave category out")
            review.status, review.reviewer, review.decided_at = "decided", reviewer, now
            review.human_decision, review.override, review.notes = human.value, overridden, notes
            review.category = (category or derived).value if overridden and derived else None
            row.enforced_decision = human.value
            return Review.of(review), decision_plain(row)

        return self._write(work)

    # modes ------------------------------------------------------------------------------------
    def modes(self) -> dict[str, ModeState]:
        with self.db.session() as session:
            rows = {r.action_type: r for r in session.scalars(select(AdvisoryModeRow))}
        states: dict[str, ModeState] = {}
        for action in ACTION_TYPES:
            row = rows.get(action)
            stored = Mode(row.mode) if row else initial_mode(action)
            states[action] = ModeState(action, effective_mode(action, stored),
                                       aware(row.since) if row else None,
                                       row.actor if row else "default",
                                       row.reason if row else None)
        return states

    def set_mode(self, action_type: str, to_mode: Mode, *, kind: str, actor: str,
                 reason: str | None, evidence: dict[str, Any],
                 expect: Mode | None = None) -> tuple[Mode, ModeState]:
        """Move an action type to `to_mode` (with `expect`, only from that mode); returns the
        mode it left and the new state."""
        now = self.clock()

        def work(session: Session) -> tuple[Mode, ModeState]:
            row = session.get(AdvisoryModeRow, action_type)
            before = Mode(row.mode) if row else initial_mode(action_type)
            if expect is not None and before is not expect:
                raise AdvisoryConflict(f"{action_type} is in {before.value} now, not "
                                  f"{expect.value}; check `warden advisory status`")
            if row is None:
                row = AdvisoryModeRow(action_type=action_type)
                session.add(row)
            row.mode, row.since, row.actor, row.reason = to_mode.value, now, actor, reason
            session.add(AdvisoryModeEventRow(action_type=action_type, kind=kind,
                                             from_mode=before.value, to_mode=to_mode.value,
                                             actor=actor, reason=reason, at=now,
                                             evidence=evidence))
            return before, ModeState(action_type, to_mode, now, actor, reason)

        return self._write(work)

    def mode_events(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(select(AdvisoryModeEventRow)
                                   .order_by(AdvisoryModeEventRow.id.desc()).limit(limit))
            return [{"id": r.id, "action_type": r.action_type, "kind": r.kind,
                     "from": r.from_mode, "to": r.to_mode, "actor": r.actor,
                     "reason": r.reason, "at": aware(r.at).isoformat(),
                     "evidence": r.evidence} for r in rows]

    # prompt variants ---------------------------------------------------------------------------
    def active_variant(self, default: str) -> str:
        with self.db.session() as session:
            row = session.scalars(select(AdvisoryVariantRow)
                                  .where(AdvisoryVariantRow.activated_at.is_not(None))
                                  .order_by(AdvisoryVariantRow.activated_at.desc())
                                  .limit(1)).first()
            return row.name if row else default

    def add_variant(self, name: str, parent: str, corrections: int, actor: str) -> None:
        def work(session: Session) -> None:
            if session.get(AdvisoryVariantRow, name) is not None:
                raise AdvisoryConflict(f"prompt variant '{name}' exists already; pick another name")
            session.add(AdvisoryVariantRow(name=name, created_at=self.clock(), parent=parent,
                                           corrections=corrections, actor=actor))

        self._write(work)

    def activate_variant(self, name: str, actor: str) -> None:
        def work(session: Session) -> None:
            row = session.get(AdvisoryVariantRow, name)
            if row is None:  # a shipped variant: record it so activation is remembered
                row = AdvisoryVariantRow(name=name, created_at=self.clock(), parent=None,
                                         corrections=0, actor=actor)
                session.add(row)
            row.activated_at = self.clock()

        self._write(work)

    def variants(self) -> list[dict[str, Any]]:
        with self.db.session() as session:
            rows = session.scalars(select(AdvisoryVariantRow)
                                   .order_by(AdvisoryVariantRow.created_at))
            return [{"name": r.name, "created_at": aware(r.created_at).isoformat(),
                     "parent": r.parent, "corrections": r.corrections, "actor": r.actor,
                     "activated_at": aware(r.activated_at).isoformat()
                     if r.activated_at else None} for r in rows]


def _fact(row: AdvisoryDecisionRow, review: AdvisoryReviewRow | None) -> DecisionFact:
    return DecisionFact(
        created_at=aware(row.created_at), action_type=row.action_type, mode=Mode(row.mode),
        advisor=Decision(row.advisor_decision) if row.advisor_decision else None,
        current=Decision(row.current_decision), error=row.error, latency_ms=row.latency_ms,
        prompt_variant=row.prompt_variant,
        review_status=review.status if review else None,
        human=Decision(review.human_decision) if review and review.human_decision else None,
        category=review.category if review else None)


def days_between(start: datetime | None, end: datetime) -> float:
    return 0.0 if start is None else max(0.0, (end - start).total_seconds() / 86_400)


def first_seen(facts: Sequence[DecisionFact]) -> datetime | None:
    return facts[0].created_at if facts else None
