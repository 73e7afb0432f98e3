"""Kill-switch triggers: the sliding-window rule (pure) and the runner acting on it (real
SQLite store, a fake clock so windows are exact)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from warden.config.switches import SwitchesConfig, TriggerConfig
from warden.retrieval.versions import ready_versions
from warden.safety.switches.store import Switches
from warden.safety.switches.trigger_runner import TriggerRunner
from warden.safety.switches.triggers import RateWindow, crosses, measure_poisoned, measure_rate
from warden.store.audit import AuditLog
from warden.store.db import Database


def _rate(threshold: float = 0.5, min_events: int = 4, window_s: float = 60,
          name: str = "blocks") -> TriggerConfig:
    return TriggerConfig(name=name, signal="safety_block_rate", window_s=window_s,
                         threshold=threshold, min_events=min_events, switch="tools")


def _fill(window: RateWindow, pattern: str, start: float = 1000.0) -> float:
    """'b' = bad, 'g' = good, one event per second from `start`; returns the last time."""
    now = start
    for i, kind in enumerate(pattern):
        now = start + i
        window.add(kind == "b", now)
    return now


# pure rule -------------------------------------------------------------------------------
def test_fires_exactly_at_the_threshold_and_not_below() -> None:
    trigger = _rate(threshold=0.5, min_events=4)
    below, at, above_min_below_rate = RateWindow(60), RateWindow(60), RateWindow(60)
    m = measure_rate(trigger, below, _fill(below, "bggbgggbg"))       # 3 of 9
    assert (m.events, round(m.value, 3), m.fires) == (9, 0.333, False)
    m = measure_rate(trigger, at, _fill(at, "bgbgbgbgbg"))            # 5 of 10 = 0.5
    assert (m.events, m.value, m.fires) == (10, 0.5, True)
    m = measure_rate(trigger, above_min_below_rate,
                     _fill(above_min_below_rate, "bgbgbgbgbgg"))      # 5 of 11
    assert not m.fires


def test_float_thresholds_are_compared_without_rounding_surprises() -> None:
    window = RateWindow(60)
    now = _fill(window, "bbbggggggg")         # 3/10 against 0.3
    assert measure_rate(_rate(threshold=0.3), window, now).fires
    assert crosses(0.3, 10, 0.3, 10) and not crosses(0.29, 10, 0.3, 10)


def test_min_events_holds_back_a_small_sample() -> None:
    trigger, window = _rate(threshold=0.5, min_events=4), RateWindow(60)
    now = _fill(window, "bbb")                # 100 % blocked, but only 3 requests
    first = measure_rate(trigger, window, now)
    assert (first.events, first.value, first.fires) == (3, 1.0, False)
    window.add(True, now + 1)
    assert measure_rate(trigger, window, now + 1).fires


def test_events_leave_the_window_when_they_expire() -> None:
    trigger, window = _rate(threshold=0.5, min_events=4, window_s=60), RateWindow(60)
    now = _fill(window, "bbbb")               # t = 1000..1003
    assert measure_rate(trigger, window, now).fires
    later = measure_rate(trigger, window, 1000 + 60.5)   # 1000 expired, 1001..1003 remain
    assert (later.events, later.fires) == (3, False)
    gone = measure_rate(trigger, window, 1003 + 60)
    assert (gone.events, gone.value) == (0, 0.0)


def test_evidence_before_since_does_not_count() -> None:
    trigger, window = _rate(threshold=0.5, min_events=4), RateWindow(60)
    now = _fill(window, "bbbbbb")
    assert not measure_rate(trigger, window, now, since=now - 1.5).fires  # 2 events after


def test_poisoned_chunks_counts_versions_created_in_the_window() -> None:
    trigger = TriggerConfig(name="poison", signal="poisoned_chunks", window_s=3600,
                            threshold=5, min_events=1, switch="retrieval")
    now = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()

    def at(seconds_ago: float) -> datetime:
        return datetime.fromtimestamp(now - seconds_ago, UTC)

    old = [(at(4000), 50)]                    # outside the window: ignored
    assert not measure_poisoned(trigger, [*old, (at(10), 4)], now).fires
    m = measure_poisoned(trigger, [*old, (at(10), 4), (at(100), 1), (at(200), 0)], now)
    assert (m.value, m.events, m.fires) == (5.0, 3, True)
    assert not measure_poisoned(trigger, [(at(10), 5)], now, since=now - 5).fires


def test_config_validates_switch_names_and_rate_thresholds() -> None:
    with pytest.raises(ValidationError, match="valid switches are 'retrieval', 'tools'"):
        TriggerConfig(name="x", signal="poisoned_chunks", window_s=1, threshold=1,
                      switch="database")
    with pytest.raises(ValidationError, match="fraction"):
        TriggerConfig(name="x", signal="tool_error_rate", window_s=1, threshold=3,
                      switch="tool:search")
    with pytest.raises(ValidationError, match="unique"):
        SwitchesConfig(triggers=[_rate(name="a"), _rate(name="a")])
    defaults = {t.name: (t.signal, t.switch) for t in SwitchesConfig().triggers}
    assert defaults["safety-block-surge"] == ("safety_block_rate", "tools")
    assert defaults["poisoned-corpus"] == ("poisoned_chunks", "retrieval")


# the runner ------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        # Behind the real clock: the store stamps flips with real time, and the evidence a
        # test creates must come before an admin's flip made right after it.
        self.now = datetime.now(UTC).timestamp() - 10

    def __call__(self) -> float:
        return self.now


def _runner(db: Database, clock: Clock, *triggers: TriggerConfig,
            versions: list[tuple[datetime, int]] | None = None) -> TriggerRunner:
    config = SwitchesConfig(triggers=list(triggers))
    return TriggerRunner(config, Switches(db), versions=(lambda: versions or []),
                         clock=clock)


def _observe(runner: TriggerRunner, clock: Clock, pattern: str) -> None:
    for kind in pattern:
        clock.now += 0.01
        runner.observe("safety_block_rate", kind == "b")


def test_a_firing_trigger_turns_the_switch_off_and_opens_an_incident(db: Database) -> None:
    clock = Clock()
    runner = _runner(db, clock, _rate(threshold=0.5, min_events=4))
    _observe(runner, clock, "bgg")
    assert runner.evaluate()[0].switch_on            # 3 events: below min_events
    _observe(runner, clock, "g")
    status = runner.evaluate()[0]                    # 1/4 = 0.25: below threshold
    assert status.switch_on and status.measurement.value == 0.25
    _observe(runner, clock, "b")
    assert runner.evaluate()[0].switch_on            # 2/5 = 0.4
    _observe(runner, clock, "b")
    fired = runner.evaluate()[0]                     # 3/6 = 0.5: fires
    assert not fired.switch_on and fired.fired_incident

    switches = runner.switches
    state = switches.state("tools")
    assert not state.on and state.actor == "trigger:blocks"
    assert state.incident_id == fired.fired_incident
    assert not switches.is_on("tools") and not switches.is_on("tool:search")
    incident = switches.incidents.get(fired.fired_incident)
    assert incident.kind == "kill_switch" and incident.status == "open"
    assert "blocks" in incident.summary and "0.500" in incident.summary
    assert "threshold 0.5" in incident.summary
    assert [e["kind"] for e in incident.events] == ["opened", "trigger.fired", "switch.off"]
    kinds = [(r["kind"], r["actor"]) for r in AuditLog(db).export()]
    assert ("switch.flip", "trigger:blocks") in kinds
    assert ("trigger.fired", "trigger:blocks") in kinds

    _observe(runner, clock, "bbbb")                  # still off: no second incident
    assert runner.evaluate()[0].fired_incident is None
    assert len(switches.incidents.list()) == 1


def test_an_admin_turning_it_back_on_starts_a_clean_window(db: Database) -> None:
    clock = Clock()
    runner = _runner(db, clock, _rate(threshold=0.5, min_events=4))
    _observe(runner, clock, "bbbb")
    first = runner.evaluate()[0].fired_incident
    assert first is not None
    clock.now += 1
    # The store stamps changed_at with the real clock; keep the fake one ahead of it.
    runner.switches.set("tools", True, "admin_key", "false alarm")
    clock.now = max(clock.now, datetime.now(UTC).timestamp()) + 0.5
    assert runner.evaluate()[0].switch_on            # the old blocks do not count again
    events = runner.switches.incidents.get(first).events
    assert events[-1]["kind"] == "switch.on" and events[-1]["actor"] == "admin_key"
    _observe(runner, clock, "bbbb")
    second = runner.evaluate()[0].fired_incident
    assert second is not None and second != first


def test_poisoned_chunks_turn_retrieval_off(db: Database) -> None:
    clock = Clock()
    created = datetime.fromtimestamp(clock.now - 5, UTC)
    trigger = TriggerConfig(name="poison", signal="poisoned_chunks", window_s=600,
                            threshold=3, min_events=1, switch="retrieval")
    below = _runner(db, clock, trigger, versions=[(created, 2)])
    assert below.evaluate()[0].switch_on
    at = _runner(db, clock, trigger, versions=[(created, 2), (created, 1)])
    status = at.evaluate()[0]
    assert not status.switch_on and not at.switches.is_on("retrieval")


def test_observe_rejects_unknown_signals(db: Database) -> None:
    runner = _runner(db, Clock(), _rate())
    with pytest.raises(ValueError, match="tool_error_rate"):
        runner.observe("latency", True)
    runner.observe("tool_error_rate", True)  # no trigger uses it here: ignored


def test_poisoned_chunks_are_read_from_ready_index_versions(db: Database) -> None:
    from warden.retrieval.versions import VersionStore

    versions = VersionStore(db)
    for quarantined, finish in ((2, True), (9, False)):   # the unfinished one does not count
        version_id, _ = versions.begin("default", {})
        if finish:
            versions.finalize(version_id, merkle_root="r", chunk_count=10,
                              quarantined_count=quarantined, document_count=1, stats={},
                              activate=None, actor="t")
    trigger = TriggerConfig(name="poison", signal="poisoned_chunks", window_s=600,
                            threshold=3, min_events=1, switch="retrieval")
    runner = TriggerRunner(SwitchesConfig(triggers=[trigger]), Switches(db),
                           versions=ready_versions(db))
    assert runner.evaluate()[0].measurement.value == 2.0 and runner.switches.is_on("retrieval")
    version_id, _ = versions.begin("default", {})
    versions.finalize(version_id, merkle_root="r2", chunk_count=4, quarantined_count=1,
                      document_count=1, stats={}, activate=None, actor="t")
    status = runner.evaluate()[0]
    assert status.fired_incident and not runner.switches.is_on("retrieval")
