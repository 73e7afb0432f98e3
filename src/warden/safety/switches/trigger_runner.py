"""Runs the automatic triggers in the server: collects signals, evaluates about once a second,
and when one fires turns its switch off, opens an incident and writes the audit record.

Signals:
- `safety_block_rate`: the request guard calls `observe("safety_block_rate", blocked)` once
  per checked request.
- `tool_error_rate`: the tools engine calls `observe("tool_error_rate", failed)` per tool call.
- `poisoned_chunks`: read from the index versions (quarantined counts of ready versions
  created inside the window).

Rate signals are per replica (each replica judges the traffic it sees); the switch they flip
is shared. Triggers only ever turn switches off, and not again while theirs is off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warden.config.switches import RATE_SIGNALS, SwitchesConfig, TriggerConfig
from warden.safety.switches.store import Switches
from warden.safety.switches.triggers import Measurement, RateWindow, measure_poisoned, measure_rate

log = logging.getLogger(__name__)

# (created_at, quarantined_count) of every ready index version; retrieval provides it
# (warden.retrieval.versions.ready_versions) and the composition root passes it in.
VersionsReader = Callable[[], Iterable[tuple[datetime, int]]]


@dataclass(frozen=True)
class TriggerStatus:
    measurement: Measurement
    switch_on: bool
    fired_incident: str | None = None   # the incident this evaluation opened, if it fired

    def plain(self) -> dict[str, Any]:
        m = self.measurement
        return {"name": m.trigger, "signal": m.signal, "switch": m.switch,
                "window_s": m.window_s, "threshold": m.threshold, "min_events": m.min_events,
                "value": m.value, "events": m.events, "switch_on": self.switch_on,
                "at_threshold": m.fires}


class TriggerRunner:
    def __init__(self, config: SwitchesConfig, switches: Switches,
                 versions: VersionsReader | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.switches = switches
        self._versions = versions
        self._clock = clock
        keep: dict[str, float] = {}
        for trigger in config.triggers:
            if trigger.signal in RATE_SIGNALS:
                keep[trigger.signal] = max(keep.get(trigger.signal, 0.0), trigger.window_s)
        self._windows = {signal: RateWindow(keep_s) for signal, keep_s in keep.items()}
        self.status: dict[str, TriggerStatus] = {}

    def observe(self, signal: str, bad: bool) -> None:
        """Count one event of a rate signal (cheap; safe from any thread). Signals that no
        trigger uses are ignored."""
        if signal not in RATE_SIGNALS:
            raise ValueError(f"unknown signal '{signal}'; rate signals: "
                             f"{', '.join(RATE_SIGNALS)}")
        window = self._windows.get(signal)
        if window is not None:
            window.add(bool(bad), self._clock())

    def _measure(self, trigger: TriggerConfig, now: float, since: float | None
                 ) -> Measurement | None:
        if trigger.signal in RATE_SIGNALS:
            return measure_rate(trigger, self._windows[trigger.signal], now, since)
        if self._versions is None:
            return None
        return measure_poisoned(trigger, self._versions(), now, since)

    def evaluate(self) -> list[TriggerStatus]:
        """One pass over every trigger (blocking I/O: run it in a thread)."""
        now = self._clock()
        results = []
        for trigger in self.config.triggers:
            state = self.switches.state(trigger.switch)
            # Evidence from before the switch was last turned on does not count again.
            since = state.changed_at.timestamp() if state.on and state.changed_at else None
            measurement = self._measure(trigger, now, since)
            if measurement is None:
                continue
            incident = None
            if state.on and measurement.fires:
                incident = self.fire(trigger, measurement)
            status = TriggerStatus(measurement, state.on and incident is None, incident)
            self.status[trigger.name] = status
            results.append(status)
        return results

    def fire(self, trigger: TriggerConfig, measurement: Measurement) -> str | None:
        """Trip the switch, open the incident with its timeline, audit. None if another
        replica (or an admin) turned the switch off first."""
        actor = f"trigger:{trigger.name}"
        why = measurement.describe()
        incidents = self.switches.incidents
        incident_id = incidents.new_id()  # named first: the switch shows it once it is off
        state = self.switches.trip(trigger.switch, actor, f"trigger {trigger.name}: {why}",
                                   incident_id=incident_id)
        if state is None:
            return None
        detail = {"trigger": trigger.name, "signal": trigger.signal, "value": measurement.value,
                  "threshold": trigger.threshold, "events": measurement.events,
                  "min_events": trigger.min_events, "window_s": trigger.window_s,
                  "switch": trigger.switch}
        incidents.open(
            "kill_switch", "high",
            f"Trigger '{trigger.name}' turned '{trigger.switch}' off: {why}.",
            actor=actor, detail={"trigger": trigger.name, "switch": trigger.switch},
            incident_id=incident_id)
        incidents.add_event(incident_id, "trigger.fired", actor, detail)
        incidents.add_event(incident_id, "switch.off", actor,
                            {"switch": trigger.switch, "switch_event_id": state.event_id})
        self.switches.audit.append("trigger.fired", actor, {**detail,
                                                            "incident_id": incident_id})
        log.warning("kill switch '%s' turned off by trigger '%s' (%s); incident %s",
                    trigger.switch, trigger.name, why, incident_id)
        return incident_id

    async def run(self) -> None:
        """Evaluate every `evaluate_every_s` until cancelled; errors are logged, not fatal."""
        while True:
            try:
                await asyncio.to_thread(self.evaluate)
            except Exception:
                log.exception("kill-switch trigger evaluation failed; retrying")
            await asyncio.sleep(self.config.evaluate_every_s)
