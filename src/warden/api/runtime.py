"""The composition root: builds every dependency of a running server once, in order, and
hands each its collaborators at construction (no wiring by assignment afterwards), then
closes them in reverse. The app's lifespan is the only caller.

    database, limiter, engines -> audit, incidents -> kill switches (+ their triggers)
    -> guard (observes the safety_block_rate trigger) -> generation service
    -> tools (gated by the switches; results feed tool_error_rate)
    -> retrieval (gated by the switches; chunks screened by the guard) -> AppState
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from warden.api.pipeline.generation import GenerationService
from warden.api.pipeline.guard import RequestGuard
from warden.api.pipeline.retrieval import RetrievalStage, warm_up
from warden.api.routes.batch_lines import GenerationLineExecutor
from warden.api.state import AppState, Lifecycle
from warden.api.store_gauges import AuditChainWatch, StoreCollector
from warden.batch.service import BatchService
from warden.config import WardenConfig, config_hash
from warden.engine.base import Engine
from warden.engine.factory import build_engine
from warden.engine.waiting_line import WaitingLine
from warden.ratelimit.factory import build_limiter
from warden.retrieval.versions import ready_versions
from warden.rollout.runtime import RolloutRuntime
from warden.safety.switches.runtime import SwitchRuntime
from warden.safety.tools.factory import build_tool_service
from warden.safety.tools.gate import ToolGate
from warden.store.audit import AuditLog
from warden.store.db import open_database
from warden.store.incidents import Incidents
from warden.store.keys import KeyStore
from warden.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


def running_of(line: WaitingLine) -> Callable[[], int]:
    return lambda: line.running


@asynccontextmanager
async def running(config: WardenConfig, metrics: Metrics) -> AsyncIterator[AppState]:
    """The server's state while it runs; on exit, drain the background work and close all."""
    async with AsyncExitStack() as stack:
        db = await asyncio.to_thread(open_database, config.store.url)
        stack.callback(db.dispose)
        limiter = build_limiter(config.store.redis_url)
        stack.push_async_callback(limiter.close)
        engines: dict[str, Engine] = {}
        for model in config.models:
            engine = build_engine(model)
            await engine.start()
            stack.push_async_callback(engine.close)
            engines[model.name] = engine
        audit, incidents = AuditLog(db), Incidents(db)
        metrics.registry.register(StoreCollector(db))  # incidents open, quarantined chunks
        chain_watch = AuditChainWatch(audit, metrics.registry)
        chain_watch.start()
        stack.push_async_callback(chain_watch.stop)
        kill_switches = await SwitchRuntime.start(config, db, audit, incidents, metrics,
                                                  versions=ready_versions(db))
        stack.push_async_callback(kill_switches.stop)
        switches, triggers = kill_switches.switches, kill_switches.triggers
        guard = None
        if config.safety.enabled:
            guard = RequestGuard(config, audit, incidents, metrics, observe=triggers.observe)
            await asyncio.to_thread(guard.warm_up)
        service = GenerationService(config, engines, limiter, metrics, guard)
        for name, line in service.waiting_lines.items():  # the autoscaler's capacity gauges
            metrics.capacity.track(name, slots=line.max_concurrency, running=running_of(line),
                                   kv_usage=getattr(engines[name], "kv_usage", None))
        tools = build_tool_service(
            config.tools, db=db, audit=audit, registry=metrics.registry,
            data_dir=config.retrieval.data_dir,
            gate=ToolGate(is_on=switches.is_on, observers=[
                lambda ok: triggers.observe("tool_error_rate", not ok)]))
        retrieval, rag = None, None
        if config.retrieval.enabled:
            from warden.retrieval.service import Retrieval  # its model loads on first use

            retrieval = Retrieval(db, config.retrieval, audit=audit)
            rag = RetrievalStage(retrieval, switches.is_on, guard, audit, metrics,
                                 {m.name: m.n_ctx for m in config.models})
            service.spawn(asyncio.to_thread(warm_up, retrieval))  # readiness does not wait
        batch = None  # batch lines run through the same service, as batch priority
        if config.batch.enabled:
            batch = BatchService.build(config, db, audit, registry=metrics.registry,
                                       engines=engines,
                                       executor=GenerationLineExecutor(service, rag, tools))
            batch.runner.start()
            stack.push_async_callback(batch.runner.stop)
        rollouts = await RolloutRuntime.start(config, db, audit=audit, incidents=incidents,
                                              registry=metrics.registry, engines=engines,
                                              retrieval=retrieval)
        stack.push_async_callback(rollouts.stop)
        advisory = None  # the policy advisor (docs/advisory.md), served through `service`
        if config.advisory.enabled:
            from warden.policy.factory import build_advisory

            advisory = build_advisory(config, db, audit, metrics.registry)
            stack.push_async_callback(advisory.close)
            service.spawn(advisory.warm_up())  # loads the prompt and its pool; readiness goes on
        state = AppState(config=config, config_hash=config_hash(config), db=db,
                         keys=KeyStore(db), audit=audit, incidents=incidents, engines=engines,
                         limiter=limiter, metrics=metrics, service=service, switches=switches,
                         triggers=triggers, tools=tools, retrieval=retrieval, rag=rag,
                         lifecycle=Lifecycle(), batch=batch, rollouts=rollouts,
                         advisory=advisory)
        log.info("warden ready: models=%s config_hash=%s", list(engines), state.config_hash)
        try:
            yield state
        finally:
            state.lifecycle.draining = True
            await service.drain()
            await tools.close()
