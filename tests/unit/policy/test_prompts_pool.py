"""Prompt variants and their hash, the few-shot pool behind the leakage guard, and the
feedback loop that refreshes the pool as a new variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.unit.policy.helpers import situation

from warden.policy.decision import Decision
from warden.policy.features import SituationFeatures
from warden.policy.feedback import RefreshRefused, export_lines, refresh_pool
from warden.policy.pool import ExamplePicker, parse_pool
from warden.policy.prompts import PromptError, load_variant, shipped_variant_names
from warden.policy.rules import load_rules, parse_rules

RULES = load_rules()


def test_shipped_variants_load_and_hashes_differ() -> None:
    names = shipped_variant_names()
    assert {"v4-hybrid", "rules-only", "examples-only"} <= set(names)
    hashes = {load_variant(n, RULES, 160).prompt_hash for n in names}
    assert len(hashes) == len(names)


def test_prompt_hash_covers_rules_and_schema() -> None:
    base = load_variant("v4-hybrid", RULES, 160).prompt_hash
    assert load_variant("v4-hybrid", RULES, 200).prompt_hash != base
    other = parse_rules(RULES.spec.model_dump_json().replace("example-policy-v1", "other"),
                        "x")
    assert load_variant("v4-hybrid", other, 160).prompt_hash != base


def test_messages_are_a_chat_with_examples_before_the_situation() -> None:
    variant = load_variant("v4-hybrid", RULES, 160)
    examples = variant.pool[:2]
    messages = variant.messages(situation("commit", "developer", branch="main"), RULES,
                                examples)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user",
                                             "assistant", "user"]
    assert json.loads(messages[2]["content"])["decision"] == examples[0].decision.value
    assert "branch=main" in messages[-1]["content"]
    assert "Committing" in messages[0]["content"] and "Reading" not in messages[0]["content"]


def test_unknown_variant_names_the_shipped_ones() -> None:
    with pytest.raises(PromptError, match="v4-hybrid"):
        load_variant("v9", RULES, 160)


def test_pool_rejects_unwritable_reasoning_and_duplicates() -> None:
    line = json.dumps({"id": "a", "situation": situation().plain(), "decision": "allow",
                       "reasoning": 'says "hi"'})
    with pytest.raises(ValueError, match="quotes"):
        parse_pool(line, "p")
    ok = line.replace('says \\"hi\\"', "fine")
    with pytest.raises(ValueError, match="twice"):
        parse_pool(ok + "\n" + ok, "p")


def test_leakage_guard_drops_pool_copies_of_suite_cases() -> None:
    pool = load_variant("v4-hybrid", RULES, 160).pool
    twin = pool[0].situation.model_copy(update={"actor_id": "user:someone-else"})
    held_out = [("t1", twin), ("t2", situation("admin", "guest"))]
    picker = ExamplePicker(pool, held_out, SituationFeatures(RULES))
    excluded = {e.pool_id: e for e in picker.leakage.excluded}
    assert excluded[pool[0].id].reason.value == "identical_text"  # the actor id is not part
    assert picker.usable == len(pool) - len(excluded)
    picked = picker.pick(twin, 3)
    assert len(picked) == 3 and not {e.id for e in picked} & set(excluded)
    assert picker.pick(situation(), 3) == picker.pick(situation(), 3)  # deterministic


def test_features_separate_what_decides() -> None:
    features = SituationFeatures(RULES)
    base = features.vector(situation("deploy", "developer", environment="production"))
    same = features.vector(situation("deploy", "developer", environment="production",
                                     resource="services/other"))
    other_role = features.vector(situation("deploy", "guest", environment="production"))
    other_env = features.vector(situation("deploy", "developer", environment="staging"))
    assert (base == same).all()  # the resource name does not decide anything
    assert not (base == other_role).all() and not (base == other_env).all()


def correction(n: int, human: str = "deny") -> dict[str, Any]:
    return {"advisory_id": f"adv_{n}", "situation": situation(resource=f"r/{n}").plain(),
            "decision": "allow", "prompt_variant": "v4-hybrid", "prompt_hash": "h",
            "model": "m", "review": {"human_decision": human, "override": True,
                                     "category": "false_negative", "notes": 'too "open"',
                                     "reviewer": "k", "decided_at": "2026-11-02T00:00:00"}}


def test_refresh_needs_enough_corrections(tmp_path: Path) -> None:
    parent = load_variant("v4-hybrid", RULES, 160)
    with pytest.raises(RefreshRefused, match="at least 50"):
        refresh_pool(parent, [correction(i) for i in range(49)], name="v5",
                     min_corrections=50, variants_dir=tmp_path, max_chars=160)


def test_refresh_writes_a_new_variant_with_the_corrections(tmp_path: Path) -> None:
    parent = load_variant("v4-hybrid", RULES, 160)
    made = refresh_pool(parent, [correction(i) for i in range(50)], name="v4-hybrid.r1",
                        min_corrections=50, variants_dir=tmp_path, max_chars=160)
    child = load_variant("v4-hybrid.r1", RULES, 160, tmp_path)
    assert child.spec.parent == "v4-hybrid" and made.pool_size == len(parent.pool) + 50
    added = [e for e in child.pool if e.id.startswith("c-")]
    assert len(added) == 50 and all(e.decision is Decision.DENY for e in added)
    assert added[0].reasoning == "too open"  # made writable for the constrained decoder
    assert child.prompt_hash != parent.prompt_hash
    with pytest.raises(RefreshRefused, match="exists already"):
        refresh_pool(parent, [correction(i) for i in range(50)], name="v4-hybrid.r1",
                     min_corrections=50, variants_dir=tmp_path, max_chars=160)


def test_feedback_export_is_the_seed_format() -> None:
    [line] = export_lines([correction(1)])
    row = json.loads(line)
    assert {row["llm_decision"], row["human_decision"], row["match"]} == {"allow", "deny",
                                                                          False}
    assert row["situation_id"] == "adv_1"
