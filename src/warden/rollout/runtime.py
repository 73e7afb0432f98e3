"""Rollouts inside a running server: the state view and its refresher, the traffic recorder
and its flusher, the service, the verdict store and the metrics, started and stopped together
by the app's composition root (warden.api.runtime).

On start, the rollouts the config names but the store does not know yet are seeded. When the
view sees a rollback or a promotion (made here or by another replica), this replica clears its
own caches, so every replica honours it within the view's TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from warden.config import WardenConfig
from warden.rollout.arms import Arm, PromptVersion, prompt_versions
from warden.rollout.caches import CacheClearer, engine_prefix_cache, index_cache, pointer_cache
from warden.rollout.leases import JobStore
from warden.rollout.metrics import RolloutMetrics
from warden.rollout.scheduler import Scheduler
from warden.rollout.service import RolloutService
from warden.rollout.state import RolloutState, RolloutStore, Seed, Status
from warden.rollout.traffic import TrafficReader, TrafficRecorder
from warden.rollout.verdicts import VerdictStore
from warden.rollout.view import RolloutView
from warden.store.audit import AuditLog
from warden.store.db import Database
from warden.store.incidents import Incidents

if TYPE_CHECKING:
    from warden.retrieval.service import Retrieval

log = logging.getLogger(__name__)


def seeds(config: WardenConfig, prompts: Mapping[str, PromptVersion]) -> dict[str, Seed]:
    return {name: Seed(Arm.from_config(r.champion, prompts),
                       Arm.from_config(r.challenger, prompts) if r.challenger else None,
                       r.share, r.mode)
            for name, r in config.rollouts.models.items()}


def cache_clearer(engines: Mapping[str, Any], retrieval: Retrieval | None) -> CacheClearer:
    steps: dict[str, Callable[[], tuple[str, str]]] = {}
    if retrieval is not None:
        steps["retrieval_pointer"] = pointer_cache(retrieval.searcher.pointer.invalidate)
        steps["retrieval_index"] = index_cache()
    for name, engine in engines.items():
        steps[f"prefix_cache:{name}"] = engine_prefix_cache(engine)
    return CacheClearer(steps)


@dataclass
class RolloutRuntime:
    config: WardenConfig
    prompts: Mapping[str, PromptVersion]
    store: RolloutStore
    view: RolloutView
    verdicts: VerdictStore
    recorder: TrafficRecorder
    reader: TrafficReader
    metrics: RolloutMetrics
    service: RolloutService
    caches: CacheClearer
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    cleared: list[dict[str, Any]] = field(default_factory=list)  # the last clears, newest last

    @classmethod
    async def start(cls, config: WardenConfig, db: Database, *, audit: AuditLog,
                    incidents: Incidents, registry: CollectorRegistry,
                    engines: Mapping[str, Any], retrieval: Retrieval | None
                    ) -> RolloutRuntime:
        prompts = prompt_versions(config.rollouts.prompts)
        store = RolloutStore(db)
        await asyncio.to_thread(store.seed, seeds(config, prompts))
        view = RolloutView(store, config.rollouts.state_cache_s)
        verdicts = VerdictStore(db)
        caches = cache_clearer(engines, retrieval)
        service = RolloutService(config, store, view=view, verdicts=verdicts, prompts=prompts,
                                 audit=audit, incidents=incidents, retrieval=retrieval,
                                 caches=caches)
        runtime = cls(config, prompts, store, view, verdicts, TrafficRecorder(db),
                      TrafficReader(db), RolloutMetrics(registry), service, caches)
        view.listen(runtime.on_change)
        await asyncio.to_thread(view.refresh)  # the first request sees the real state
        runtime._tasks = [asyncio.create_task(view.run_refresher())]
        if config.rollouts.record_traffic:
            runtime._tasks.append(asyncio.create_task(runtime.recorder.run_flusher()))
        if config.rollouts.schedules.enabled:
            scheduler = Scheduler(config, JobStore(db), incidents=incidents, view=view,
                                  reader=runtime.reader, metrics=runtime.metrics)
            runtime._tasks.append(asyncio.create_task(scheduler.run()))
        return runtime

    def on_change(self, before: RolloutState | None, after: RolloutState) -> None:
        """A rollout changed (seen by this replica's view): update the share gauge, and clear
        this replica's caches when the champion changed or a challenger was stopped."""
        live = after.live_challenger
        self.metrics.share.labels(after.name).set(after.share if live is not None else 0.0)
        routed = after.share if live is not None and after.mode == "ab" else 0.0
        self.metrics.set_weights(after.name, challenger_share=routed)
        if before is None:
            return
        stopped = before.status is Status.RUNNING and after.status is not Status.RUNNING
        if stopped or before.champion.hash != after.champion.hash:
            report = self.caches.clear_all()
            self.cleared = [*self.cleared[-19:], {"rollout": after.name,
                                                  "generation": after.generation,
                                                  "caches": report}]
            log.info("rollout %s changed (generation %s): caches %s", after.name,
                     after.generation, {k: v["outcome"] for k, v in report.items()})

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
