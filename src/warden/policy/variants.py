"""Prompt variants over time: refresh the few-shot pool from reviewer corrections (a new
variant, not yet active) and activate a variant (every action type back to shadow: the new
prompt earns its own evidence). Both audited (`advisory.variant`, `advisory.rollback`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from warden.policy.control import AdvisoryControl
from warden.policy.feedback import refresh_pool
from warden.policy.prompts import load_variant
from warden.policy.rules import RulesEngine


def refresh(control: AdvisoryControl, rules: RulesEngine, folder: Path, name: str | None,
            actor: str) -> dict[str, Any]:
    config = control.config
    parent = load_variant(control.active_variant(), rules, config.reasoning_max_chars, folder)
    corrections = control.reviewed(overrides_only=True)
    root = re.sub(r"\.r\d+$", "", parent.name)
    target = name or f"{root}.r{len(control.store.variants()) + 1}"
    made = refresh_pool(parent, corrections, name=target,
                        min_corrections=config.min_corrections, variants_dir=folder,
                        max_chars=config.reasoning_max_chars)
    variant = load_variant(made.name, rules, config.reasoning_max_chars, folder)
    control.store.add_variant(made.name, parent.name, made.corrections, actor)
    control.audit.append("advisory.variant", actor, {
        "action": "refresh", "name": made.name, "parent": parent.name,
        "corrections": made.corrections, "pool_size": made.pool_size,
        "prompt_hash": variant.prompt_hash})
    return {"name": made.name, "parent": parent.name, "corrections": made.corrections,
            "pool_size": made.pool_size, "prompt_hash": variant.prompt_hash,
            "variant_file": str(made.variant_file), "active": False}


def activate(control: AdvisoryControl, rules: RulesEngine, folder: Path, name: str,
             actor: str) -> dict[str, Any]:
    variant = load_variant(name, rules, control.config.reasoning_max_chars, folder)
    before = control.active_variant()
    control.store.activate_variant(name, actor)
    control.audit.append("advisory.variant", actor, {
        "action": "activate", "name": name, "previous": before,
        "prompt_hash": variant.prompt_hash})
    changes = control.rollback(list(control.config.actions), actor,
                               f"prompt variant {name} activated", kind="reset")
    return {"active": name, "previous": before, "prompt_hash": variant.prompt_hash,
            "modes": changes}
