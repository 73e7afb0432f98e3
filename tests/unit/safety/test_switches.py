"""The kill-switch store and its per-process cache (real SQLite store, a fake monotonic clock
so the TTL is exact; no server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from warden.safety.switches.store import ReasonRequired, Switches, UnknownSwitch
from warden.store.audit import AuditLog
from warden.store.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement the engine runs (to prove a cache hit does no I/O)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def test_switches_start_on_and_unknown_names_list_the_valid_ones(db: Database) -> None:
    switches = Switches(db)
    assert switches.is_on("retrieval") and switches.is_on("tools")
    assert switches.is_on("tool:web_search")
    assert [s.name for s in switches.all()] == ["retrieval", "tools"]
    for bad in ("retreival", "tool:", "tool:has space", "TOOLS"):
        with pytest.raises(UnknownSwitch, match="valid switches are 'retrieval', 'tools' and "
                                                "'tool:<name>'"):
            switches.is_on(bad)
    with pytest.raises(UnknownSwitch):
        switches.set("everything", False, "me", "no")


def test_turning_off_needs_a_reason_and_every_flip_is_audited(db: Database) -> None:
    switches = Switches(db)
    with pytest.raises(ReasonRequired, match="reason is required"):
        switches.set("retrieval", False, "cli", "  ")
    state = switches.set("retrieval", False, "cli", "poisoned source")
    assert (state.on, state.reason, state.actor) == (False, "poisoned source", "cli")
    assert state.changed_at is not None and not switches.is_on("retrieval")
    switches.set("retrieval", True, "cli")           # on needs no reason
    records = [r for r in AuditLog(db).export() if r["kind"] == "switch.flip"]
    assert [(r["payload"]["name"], r["payload"]["on"], r["payload"]["reason"], r["actor"])
            for r in records] == [("retrieval", False, "poisoned source", "cli"),
                                  ("retrieval", True, None, "cli")]
    assert [h["on"] for h in switches.history("retrieval")] == [True, False]


def test_a_cache_hit_does_no_io_and_a_flip_elsewhere_shows_after_the_ttl(
        db: Database, statements: list[str]) -> None:
    clock = Clock()
    replica = Switches(db, ttl_s=0.25, clock=clock)
    other = Switches(Database(db.url))               # another process on the same store
    assert replica.is_on("tools")
    statements.clear()
    for _ in range(1000):
        assert replica.is_on("tools") and replica.is_on("tool:x")
    assert statements == []                          # served from memory
    other.set("tools", False, "cli", "incident drill")
    clock.now += 0.2
    assert replica.is_on("tools")                    # still inside the TTL
    clock.now += 0.05
    assert not replica.is_on("tools")                # TTL passed: one reload sees the flip
    assert len(statements) == 1
    other.db.dispose()


def test_the_ttl_is_capped_at_half_a_second(db: Database) -> None:
    assert Switches(db, ttl_s=5).ttl_s == 0.5


def test_one_tool_and_all_tools(db: Database) -> None:
    switches = Switches(db, tool_names=["calculator"])
    switches.set("tool:web_search", False, "cli", "exfiltration attempt")
    assert not switches.is_on("tool:web_search") and switches.is_on("tool:calculator")
    assert [s.name for s in switches.all()] == ["retrieval", "tools", "tool:calculator",
                                                "tool:web_search"]
    switches.set("tools", False, "cli", "all tools paused")
    assert not switches.is_on("tool:calculator")     # effective: tools is off
    assert switches.state("tool:calculator").on       # its own switch is untouched
    switches.set("tools", True, "cli")
    assert switches.is_on("tool:calculator") and not switches.is_on("tool:web_search")


def test_trip_only_turns_off_a_switch_that_is_on(db: Database) -> None:
    first, second = Switches(db), Switches(Database(db.url))
    assert first.trip("retrieval", "trigger:a", "measured") is not None
    assert second.trip("retrieval", "trigger:a", "measured") is None
    assert len(first.history("retrieval")) == 1
    second.db.dispose()


def test_turning_on_a_switch_an_incident_turned_off_adds_to_its_timeline(db: Database
                                                                         ) -> None:
    switches = Switches(db)
    incident = switches.incidents.new_id()
    state = switches.trip("retrieval", "trigger:poison", "7 quarantined chunks",
                          incident_id=incident)
    assert state is not None
    switches.incidents.open("kill_switch", "high", "test", actor="trigger:poison",
                            incident_id=incident)
    assert switches.state("retrieval").incident_id == incident
    assert switches.history("retrieval")[0]["incident_id"] == incident
    switches.set("retrieval", True, "admin_1", "source cleaned")
    last = switches.incidents.get(incident).events[-1]
    assert (last["kind"], last["actor"], last["detail"]) == (
        "switch.on", "admin_1", {"switch": "retrieval", "reason": "source cleaned"})


def test_an_unreachable_redis_falls_back_to_the_database(db: Database) -> None:
    # Port 1 refuses connections: a real outage, not a mock.
    switches = Switches(db, redis_url="redis://127.0.0.1:1/0", clock=Clock())
    switches.set("tools", False, "cli", "redis is down but this must work")
    reader = Switches(Database(db.url), redis_url="redis://127.0.0.1:1/0")
    assert not reader.is_on("tools")
    assert reader.last_error is None
    reader.db.dispose()


def test_a_store_outage_keeps_the_last_known_state(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    switches = Switches(db, clock=clock)
    switches.set("retrieval", False, "cli", "before the outage")
    with db.engine.begin() as conn:                  # the table disappears: reads now fail
        conn.exec_driver_sql("ALTER TABLE switch_state RENAME TO switch_state_gone")
    clock.now += 1
    assert not switches.is_on("retrieval")           # last known state, no exception
    assert switches.last_error is not None
