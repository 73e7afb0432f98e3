"""Kill switches: `retrieval`, `tools` and `tool:<name>`, each on or off with who, why, when.

The database holds the truth (switch_state + switch_events); Redis, when configured, mirrors
it so replicas see a flip quickly (switch_redis.py). Each process keeps the whole state in
memory and refreshes it at most `ttl_s` (<= 0.5 s) old, so `is_on()` is a dict lookup: call it
on every request.

- In the server, `run_refresher()` reloads the state in a worker thread every `ttl_s`, and
  `is_on()` never does I/O (a slow or dead store cannot stall requests; the last known state
  stays in force).
- Elsewhere (CLI, tests), `is_on()` reloads synchronously once the copy is older than `ttl_s`.

A switch that was never flipped is on. Turning one off needs a reason. Every flip is audited
("switch.flip"); turning on a switch that an incident turned off adds an event to it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from warden.config.switches import FIXED_SWITCHES, TOOL_PREFIX, switch_name_problem
from warden.safety.switches.redis_mirror import RedisMirror, Snapshot
from warden.safety.switches.tables import SwitchEventRow, SwitchStateRow
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import IncidentNotFound, Incidents
from warden.store.retry import WriteConflict, write_retrying

log = logging.getLogger(__name__)

_PG_SWITCH_LOCK = 0x57A2D6  # any constant: flips queue on it across PostgreSQL replicas
_RECONCILE_S = 5.0          # how often a replica re-reads the database while Redis serves
MAX_TTL_S = 0.5
T = TypeVar("T")


class SwitchError(ValueError):
    """A switch operation that cannot be done; the message says why and what to do."""


class UnknownSwitch(SwitchError):
    pass


class ReasonRequired(SwitchError):
    pass


@functools.lru_cache(maxsize=1024)
def _problem(name: str) -> str | None:
    return switch_name_problem(name)


def check_name(name: str) -> str:
    problem = _problem(name)
    if problem:
        raise UnknownSwitch(problem)
    return name


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SwitchState:
    name: str
    on: bool = True
    reason: str | None = None
    actor: str = "default"
    changed_at: datetime | None = None
    incident_id: str | None = None
    event_id: int | None = None

    def plain(self) -> dict[str, Any]:
        return {"on": self.on, "reason": self.reason, "actor": self.actor,
                "changed_at": self.changed_at.isoformat() if self.changed_at else None,
                "incident_id": self.incident_id, "event_id": self.event_id}

    @classmethod
    def from_plain(cls, name: str, raw: dict[str, Any]) -> SwitchState:
        changed = raw.get("changed_at")
        return cls(name, bool(raw["on"]), raw.get("reason"), raw.get("actor", "default"),
                   datetime.fromisoformat(changed) if changed else None,
                   raw.get("incident_id"), raw.get("event_id"))

    @classmethod
    def of(cls, row: SwitchStateRow) -> SwitchState:
        return cls(row.name, row.on, row.reason, row.actor, _aware(row.changed_at),
                   row.incident_id, row.event_id)


def _snapshot(session: Session) -> tuple[int, Snapshot]:
    rows = list(session.scalars(select(SwitchStateRow)))
    generation = max((r.event_id for r in rows), default=0)
    return generation, {r.name: SwitchState.of(r).plain() for r in rows}


def _states(snapshot: Snapshot) -> dict[str, SwitchState]:
    return {name: SwitchState.from_plain(name, raw) for name, raw in snapshot.items()}


class Switches:
    def __init__(self, db: Database, redis_url: str | None = None, *, ttl_s: float = 0.25,
                 redis_prefix: str = "warden:switches:", audit: AuditLog | None = None,
                 incidents: Incidents | None = None, tool_names: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._clock = clock
        self.ttl_s = min(max(ttl_s, 0.0), MAX_TTL_S)
        self.audit = audit or AuditLog(db)
        self.incidents = incidents or Incidents(db)
        self.tool_names = tuple(tool_names)  # configured tools, listed even if never flipped
        self._mirror = RedisMirror(redis_url, redis_prefix) if redis_url else None
        self._states: dict[str, SwitchState] = {}
        self._generation = -1
        self._fetched = float("-inf")
        self._reconciled = float("-inf")
        self._background = False
        self._refresh_lock = threading.Lock()
        self._last_error: str | None = None
        self._failing = False

    # reading (hot path) -------------------------------------------------------------
    def _current(self) -> dict[str, SwitchState]:
        if not self._background and self._clock() - self._fetched >= self.ttl_s:
            self._refresh_quietly()
        return self._states

    def is_on(self, name: str) -> bool:
        """Whether `name` is on. `tool:<x>` is on only while `tools` is on too. No I/O on a
        cache hit (always, in the server); an unknown name raises UnknownSwitch."""
        states = self._current()
        state = states.get(name)
        if state is None:
            check_name(name)
        on = state.on if state is not None else True
        if on and name.startswith(TOOL_PREFIX):
            tools = states.get("tools")
            on = tools.on if tools is not None else True
        return on

    def state(self, name: str) -> SwitchState:
        """The switch's own state (for `tool:<x>`, regardless of `tools`)."""
        check_name(name)
        return self._current().get(name) or SwitchState(name)

    def all(self) -> list[SwitchState]:
        states = self._current()
        tools = sorted({n for n in states if n.startswith(TOOL_PREFIX)}
                       | {f"{TOOL_PREFIX}{t}" for t in self.tool_names})
        return [states.get(n) or SwitchState(n) for n in (*FIXED_SWITCHES, *tools)]

    @property
    def last_error(self) -> str | None:
        """Why the last refresh failed (None when it worked); the state in use is older."""
        return self._last_error

    # refreshing ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload now (raises if neither Redis nor the database can be read)."""
        with self._refresh_lock:
            try:
                generation, snapshot = self._load()
            except Exception as exc:
                self._last_error = str(exc) or type(exc).__name__
                raise
            self._states, self._generation = _states(snapshot), generation
            self._fetched = self._clock()
            self._last_error, self._failing = None, False

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except Exception as exc:
            # Keep the last known state: a store outage must not fail requests. One log line
            # per outage: refresh() has already recorded it in _last_error.
            if not self._failing:
                log.warning("kill switches: refresh failed, keeping the last known state: %s",
                            exc)
            self._failing = True
            self._fetched = self._clock()  # try again after one TTL, not on every call

    def _load(self) -> tuple[int, Snapshot]:
        now = self._clock()
        mirrored = self._mirror.read() if self._mirror is not None else None
        if mirrored is not None and now - self._reconciled < _RECONCILE_S:
            return mirrored
        with self.db.session() as session:
            generation, snapshot = _snapshot(session)
        self._reconciled = now
        if self._mirror is not None and self._mirror.available and (
                mirrored is None or (mirrored[1] != snapshot and generation >= mirrored[0])):
            # Redis was emptied, or missed a publish while it was down: heal it.
            self._mirror.publish(generation, snapshot)
        return generation, snapshot

    async def run_refresher(self) -> None:
        """Keep the in-memory state fresh from a worker thread until cancelled."""
        self._background = True
        try:
            while True:
                await asyncio.to_thread(self._refresh_quietly)
                await asyncio.sleep(self.ttl_s)
        finally:
            self._background = False

    # writing ------------------------------------------------------------------------
    def _retrying(self, work: Callable[[Session], T]) -> T:
        try:
            return write_retrying(self.db, work, pg_lock=_PG_SWITCH_LOCK)
        except WriteConflict as exc:
            raise SwitchError("could not write the switch state after repeated write "
                              "conflicts") from exc

    def _flip(self, name: str, on: bool, actor: str, reason: str | None, *,
              incident_id: str | None, only_if_on: bool
              ) -> tuple[SwitchState, SwitchState, int, Snapshot] | None:
        def work(session: Session) -> tuple[SwitchState, SwitchState, int, Snapshot] | None:
            row = session.get(SwitchStateRow, name)
            previous = SwitchState.of(row) if row is not None else SwitchState(name)
            if only_if_on and not previous.on:
                return None
            now = datetime.now(UTC)
            event = SwitchEventRow(name=name, on=on, reason=reason, actor=actor, at=now,
                                   incident_id=incident_id)
            session.add(event)
            session.flush()
            if row is None:
                row = SwitchStateRow(name=name)
                session.add(row)
            row.on, row.reason, row.actor, row.changed_at = on, reason, actor, now
            row.incident_id, row.event_id = incident_id, event.id
            session.flush()
            generation, snapshot = _snapshot(session)
            return previous, SwitchState.of(row), generation, snapshot

        return self._retrying(work)

    def _adopt(self, generation: int, snapshot: Snapshot) -> None:
        """Publish a snapshot just written and use it here at once."""
        if self._mirror is not None:
            self._mirror.publish(generation, snapshot)
        with self._refresh_lock:
            if generation >= self._generation:
                self._states, self._generation = _states(snapshot), generation
                self._fetched = self._clock()

    def set(self, name: str, on: bool, actor: str, reason: str | None = None,
            incident_id: str | None = None) -> SwitchState:
        """Turn a switch on or off (a reason is required for off); audited."""
        check_name(name)
        reason = (reason or "").strip() or None
        if not on and reason is None:
            raise ReasonRequired(f"a reason is required to turn '{name}' off (what happened, "
                              "for whoever turns it back on)")
        flipped = self._flip(name, on, actor, reason, incident_id=incident_id,
                             only_if_on=False)
        assert flipped is not None
        previous, state, generation, snapshot = flipped
        self._adopt(generation, snapshot)
        self.audit.append("switch.flip", actor, {"name": name, "on": on, "reason": reason,
                                                 "actor": actor, "incident_id": incident_id,
                                                 "was_on": previous.on})
        if on and not previous.on and previous.incident_id:
            try:
                self.incidents.add_event(previous.incident_id, "switch.on", actor,
                                         {"switch": name, "reason": reason})
            except IncidentNotFound:
                log.warning("switch %s named incident %s, which does not exist", name,
                            previous.incident_id)
        return state

    def trip(self, name: str, actor: str, reason: str, incident_id: str | None = None
             ) -> SwitchState | None:
        """Turn a switch off only if it is on now (atomic, across replicas): the state, or
        None when it already was off. Automatic triggers use this, so two replicas that see
        the same signal open one incident, not two. `incident_id` names the incident the
        caller opens next, so the switch shows it from the moment it is off."""
        check_name(name)
        flipped = self._flip(name, False, actor, reason, incident_id=incident_id,
                             only_if_on=True)
        if flipped is None:
            return None
        _, state, generation, snapshot = flipped
        self._adopt(generation, snapshot)
        self.audit.append("switch.flip", actor, {"name": name, "on": False, "reason": reason,
                                                 "actor": actor, "incident_id": incident_id,
                                                 "was_on": True})
        return state

    def history(self, name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(SwitchEventRow).order_by(SwitchEventRow.id.desc()).limit(limit)
        if name is not None:
            query = query.where(SwitchEventRow.name == check_name(name))
        with self.db.session() as session:
            return [{"id": e.id, "name": e.name, "on": e.on, "reason": e.reason,
                     "actor": e.actor, "at": _aware(e.at).isoformat(),
                     "incident_id": e.incident_id} for e in session.scalars(query)]

    def close(self) -> None:
        if self._mirror is not None:
            self._mirror.close()
