"""The kill switches inside a running server: the store, its refresher, the trigger loop and
the `warden_switch_on` metric, started and stopped together by the app lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from warden.config import WardenConfig
from warden.safety.switches.metrics import SwitchCollector
from warden.safety.switches.store import Switches
from warden.safety.switches.trigger_runner import TriggerRunner, VersionsReader
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents
from warden.telemetry.metrics import Metrics


def build_switches(config: WardenConfig, db: Database, *, audit: AuditLog | None = None,
                   incidents: Incidents | None = None) -> Switches:
    """The switch store as configured (the CLI uses this too)."""
    # Configured tools are listed (and get a metric) before anyone flips them.
    tools = [t.name for t in getattr(config, "tools", [])]
    return Switches(db, config.store.redis_url, ttl_s=config.switches.cache_ttl_s,
                    redis_prefix=config.switches.redis_prefix, audit=audit,
                    incidents=incidents, tool_names=tools)


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
