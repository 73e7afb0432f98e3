"""The kill switches inside a running server: the store, its refresher, the trigger loop and
the `warden_switch_on` metric, started and stopped together by the app lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from warden.config import WardenConfig
from warden.safety.switches.factory import build_switches
from warden.safety.switches.metrics import SwitchCollector
from warden.safety.switches.store import Switches
from warden.safety.switches.trigger_runner import TriggerRunner, VersionsReader
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents
from warden.telemetry.metrics import Metrics


@dataclass
class SwitchRuntime:
    switches: Switches
    triggers: TriggerRunner
    metrics: Metrics
    _collector: SwitchCollector
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, config: WardenConfig, db: Database, audit: AuditLog,
                    incidents: Incidents, metrics: Metrics, *,
                    versions: VersionsReader | None = None) -> SwitchRuntime:
        switches = build_switches(config, db, audit=audit, incidents=incidents)
        await asyncio.to_thread(switches.refresh)  # the first request sees the real state
        triggers = TriggerRunner(config.switches, switches, versions)
        collector = SwitchCollector(switches)
        metrics.registry.register(collector)
        runtime = cls(switches, triggers, metrics, collector)
        runtime._tasks = [asyncio.create_task(switches.run_refresher()),
                          asyncio.create_task(triggers.run())]
        return runtime

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.metrics.registry.unregister(self._collector)
        self.switches.close()
