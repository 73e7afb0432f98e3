"""Building the advisory feature from the config: the server's service, the CLI's control."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from warden.config import WardenConfig
from warden.policy.control import AdvisoryControl
from warden.policy.current import CurrentEngine
from warden.policy.metrics import AdvisoryMetrics
from warden.policy.prompts import load_variant
from warden.policy.rules import load_rules
from warden.policy.service import AdvisoryService
from warden.policy.store import AdvisoryStore
from warden.policy.suite import load_suite
from warden.store.audit import AuditLog
from warden.store.db import Database


def variants_dir(config: WardenConfig) -> Path:
    """Where the feedback loop writes refreshed prompt variants."""
    configured = config.advisory.variants_dir
    return Path(configured) if configured else Path(config.retrieval.data_dir) / "advisory"


def build_control(config: WardenConfig, db: Database, audit: AuditLog,
                  metrics: AdvisoryMetrics | None = None) -> AdvisoryControl:
    return AdvisoryControl(config.advisory, AdvisoryStore(db), audit, metrics)


def build_advisory(config: WardenConfig, db: Database, audit: AuditLog,
                   registry: CollectorRegistry | None) -> AdvisoryService:
    """Loads and checks the rules and the active prompt variant now, so a bad file stops the
    start with its name; the few-shot pool is vectorized later (AdvisoryService.warm_up)."""
    advisory = config.advisory
    rules = load_rules(advisory.current_engine.rules_file)
    metrics = AdvisoryMetrics(registry) if registry is not None else None
    control = build_control(config, db, audit, metrics)
    folder = variants_dir(config)
    load_variant(control.active_variant(), rules, advisory.reasoning_max_chars, folder)
    held_out = [(case.id, case.situation) for case in load_suite()]
    return AdvisoryService(advisory, control, rules,
                           CurrentEngine.from_config(advisory.current_engine, rules), metrics,
                           variants_dir=folder, held_out=held_out)
