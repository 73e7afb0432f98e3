"""The live state of each rollout, in the store: arms, share, mode and status.

The database holds the truth (rollout_state + rollout_events); the config only seeds a
rollout the first time a server sees it, so a promotion or a rollback survives restarts and
reaches every replica. Each write bumps the rollout's generation (the id of its event), and
is audited as rollout.<kind> by the caller (`RolloutService`), which also does the side
effects (pointers, caches, incidents).

    idle         the champion serves everything (no challenger, or none live)
    running      the challenger gets its share (ab) or shadow copies (shadow)
    rolled_back  the challenger is kept for the record but gets no traffic
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden.rollout.arms import Arm, RolloutError
from warden.rollout.tables import RolloutEventRow, RolloutStateRow
from warden.store.db import Database
from warden.store.retry import WriteConflict, write_retrying

_PG_ROLLOUT_LOCK = 0x57A2D7  # any constant: rollout writes queue on it across replicas
T = TypeVar("T")


class Status(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    ROLLED_BACK = "rolled_back"


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RolloutState:
    name: str
    mode: str
    share: float
    status: Status
    champion: Arm
    challenger: Arm | None
    previous: Arm | None
    started_at: datetime | None
    generation: int
    updated_at: datetime
    updated_by: str
    reason: str | None = None
    incident_id: str | None = None

    @property
    def live_challenger(self) -> Arm | None:
        """The challenger while it gets traffic, else None."""
        return self.challenger if self.status is Status.RUNNING else None

    def plain(self) -> dict[str, Any]:
        def arm(value: Arm | None) -> dict[str, Any] | None:
            return None if value is None else {**value.plain(), "hash": value.hash}

        return {"name": self.name, "model": self.name, "mode": self.mode, "share": self.share,
                "status": self.status.value, "champion": arm(self.champion),
                "challenger": arm(self.challenger), "previous": arm(self.previous),
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "generation": self.generation, "updated_at": self.updated_at.isoformat(),
                "updated_by": self.updated_by, "reason": self.reason,
                "incident_id": self.incident_id}

    @classmethod
    def of(cls, row: RolloutStateRow) -> RolloutState:
        updated = _aware(row.updated_at)
        assert updated is not None
        return cls(row.name, row.mode, row.share, Status(row.status),
                   Arm.from_plain(row.champion),
                   Arm.from_plain(row.challenger) if row.challenger else None,
                   Arm.from_plain(row.previous) if row.previous else None,
                   _aware(row.started_at), row.generation, updated, row.updated_by,
                   row.reason, row.incident_id)


@dataclass(frozen=True)
class Seed:
    """What the config says a rollout starts as."""

    champion: Arm
    challenger: Arm | None
    share: float
    mode: str


class RolloutStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _write(self, work: Callable[[Session], T]) -> T:
        try:
            return write_retrying(self.db, work, pg_lock=_PG_ROLLOUT_LOCK)
        except WriteConflict as exc:
            raise RolloutError("could not write the rollout state after repeated write "
                               "conflicts; retry") from exc

    @staticmethod
    def _event(session: Session, row: RolloutStateRow, kind: str, actor: str,
               detail: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        event = RolloutEventRow(rollout=row.name, kind=kind, actor=actor, at=now,
                                detail=detail)
        session.add(event)
        session.flush()
        row.generation, row.updated_at, row.updated_by = event.id, now, actor

    # reading -------------------------------------------------------------------------
    def all(self) -> dict[str, RolloutState]:
        with self.db.session() as session:
            return {r.name: RolloutState.of(r) for r in session.scalars(select(RolloutStateRow))}

    def get(self, name: str) -> RolloutState | None:
        with self.db.session() as session:
            row = session.get(RolloutStateRow, name)
            return RolloutState.of(row) if row else None

    def events(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        query = (select(RolloutEventRow).where(RolloutEventRow.rollout == name)
                 .order_by(RolloutEventRow.id.desc()).limit(limit))
        with self.db.session() as session:
            return [{"id": e.id, "kind": e.kind, "actor": e.actor,
                     "at": (_aware(e.at) or e.at).isoformat(), "detail": e.detail}
                    for e in session.scalars(query)]

    # writing -------------------------------------------------------------------------
    def seed(self, seeds: Mapping[str, Seed], actor: str = "config") -> list[str]:
        """Create the rows of configured rollouts the store does not know yet (idempotent
        across replicas starting together); returns the names created."""

        def work(session: Session) -> list[str]:
            created = []
            for name, seed in seeds.items():
                if session.get(RolloutStateRow, name) is not None:
                    continue
                now = datetime.now(UTC)
                status = Status.RUNNING if seed.challenger else Status.IDLE
                row = RolloutStateRow(
                    name=name, mode=seed.mode, share=seed.share, status=status.value,
                    champion=seed.champion.plain(),
                    challenger=seed.challenger.plain() if seed.challenger else None,
                    previous=None, started_at=now if seed.challenger else None, generation=0,
                    updated_at=now, updated_by=actor)
                session.add(row)
                session.flush()
                self._event(session, row, "seed", actor, {"status": status.value})
                created.append(name)
            return created

        return self._write(work)

    def _change(self, name: str, kind: str, actor: str,
                change: Callable[[RolloutStateRow], dict[str, Any]]) -> RolloutState:
        def work(session: Session) -> RolloutState:
            row = session.get(RolloutStateRow, name)
            if row is None:
                raise RolloutError(f"no rollout '{name}'; see `warden rollout status`")
            detail = change(row)
            self._event(session, row, kind, actor, detail)
            session.flush()
            return RolloutState.of(row)

        return self._write(work)

    def start(self, name: str, *, champion: Arm, challenger: Arm, share: float, mode: str,
              actor: str, reason: str | None = None) -> RolloutState:
        """Put a challenger live (the champion is re-pinned to the versions it served)."""

        def change(row: RolloutStateRow) -> dict[str, Any]:
            if row.status == Status.RUNNING.value:
                raise RolloutError(f"rollout '{name}' already has a running challenger; "
                                   "promote or roll it back first")
            row.champion, row.challenger = champion.plain(), challenger.plain()
            row.share, row.mode, row.status = share, mode, Status.RUNNING.value
            row.started_at, row.reason, row.incident_id = datetime.now(UTC), reason, None
            return {"champion": champion.hash, "challenger": challenger.hash, "share": share,
                    "mode": mode}

        return self._change(name, "start", actor, change)

    def set_share(self, name: str, share: float, actor: str) -> RolloutState:
        def change(row: RolloutStateRow) -> dict[str, Any]:
            previous, row.share = row.share, share
            return {"from": previous, "to": share}

        return self._change(name, "share", actor, change)

    def promote(self, name: str, actor: str, reason: str | None) -> RolloutState:
        """The challenger becomes the champion; the old champion is kept as `previous`."""

        def change(row: RolloutStateRow) -> dict[str, Any]:
            if row.challenger is None or row.status != Status.RUNNING.value:
                raise RolloutError(f"rollout '{name}' has no running challenger to promote")
            old, new = row.champion, row.challenger
            row.previous, row.champion, row.challenger = old, new, None
            row.status, row.reason, row.started_at = Status.IDLE.value, reason, None
            return {"from": Arm.from_plain(old).hash, "to": Arm.from_plain(new).hash}

        return self._change(name, "promote", actor, change)

    def rollback(self, name: str, actor: str, reason: str | None,
                 incident_id: str | None = None) -> RolloutState:
        """Running: the challenger stops getting traffic. After a promotion: the previous
        champion comes back and the demoted one is kept as the (stopped) challenger."""

        def change(row: RolloutStateRow) -> dict[str, Any]:
            if row.status == Status.RUNNING.value:
                demoted = row.challenger
            elif row.previous is not None:
                demoted, row.champion, row.previous = row.champion, row.previous, None
                row.challenger = demoted
            else:
                raise RolloutError(f"rollout '{name}' has nothing to roll back: no running "
                                   "challenger and no previous champion")
            row.status, row.reason, row.incident_id = Status.ROLLED_BACK.value, reason, \
                incident_id
            return {"demoted": Arm.from_plain(demoted).hash if demoted else None,
                    "champion": Arm.from_plain(row.champion).hash, "reason": reason,
                    "incident_id": incident_id}

        return self._change(name, "rollback", actor, change)

    def attach_incident(self, name: str, incident_id: str, actor: str) -> RolloutState:
        def change(row: RolloutStateRow) -> dict[str, Any]:
            row.incident_id = incident_id
            return {"incident_id": incident_id}

        return self._change(name, "incident", actor, change)
