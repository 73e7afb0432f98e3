"""Seeded random situations labelled by the rules engine (the current policy engine).

Two uses, with different seeds: the generated part of the few-shot pool (what a shadow log
of the current engine's decisions would hold) and the dev set prompt changes are judged on
(benchmarks/advisory.py --dev). The semantic suite is neither: it was written by hand and is
never tuned on.

    .venv/bin/python -m warden.policy.synthetic pool 120 --seed 7   # JSONL pool rows
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any

from warden.policy.decision import DECISIONS, Decision
from warden.policy.rules import RulesEngine, load_rules
from warden.policy.situation import Situation

ROLES = ("admin", "maintainer", "developer", "developer", "member", "guest", "service",
         "contractor")
RESOURCES = {"read": ("docs/guide.md", "wiki/plans", "reports/sales.csv", "repo/app/main.py"),
             "write": ("docs/guide.md", "config/app.yaml", "repo/app/main.py", "crm/leads"),
             "commit": ("repo/app", "repo/infra", "repo/docs"),
             "deploy": ("services/api", "services/web", "services/jobs"),
             "admin": ("users/roles", "org/settings", "org/tokens")}
BANDS = ((0.7, 1.0), (0.4, 0.69), (0.1, 0.39))  # high, medium, low weakest dimension


def random_trust(rng: random.Random) -> dict[str, float]:
    """A trust band first (equally likely), then three dimensions whose weakest is in it."""
    low, high = rng.choice(BANDS)
    weakest = round(rng.uniform(low, high), 2)
    dims = [weakest, *(round(rng.uniform(max(weakest, 0.7), 1.0), 2) for _ in range(2))]
    rng.shuffle(dims)
    return dict(zip(("competence", "reliability", "integrity"), dims, strict=True))


def random_situation(rng: random.Random, actor: str) -> Situation:
    action = rng.choice(list(RESOURCES))
    context: dict[str, Any] = {}
    if action == "read" and rng.random() < 0.3:
        context["visibility"] = "public"
    if rng.random() < 0.12:
        context["sensitivity"] = rng.choice(["confidential", "secret"])
    if rng.random() < 0.08:
        context["bulk"] = True
    if action == "commit":
        context["branch"] = rng.choice(["main", "release/3.2", "feature/a", "fix/b"])
    if action == "deploy":
        environment = rng.choice(["dev", "staging", "production", None])
        if environment:
            context["environment"] = environment
        if rng.random() < 0.4:
            context["change_approved"] = True
    if action in ("write", "commit", "deploy") and rng.random() < 0.06:
        context["change_freeze"] = True
    if rng.random() < 0.04:
        context["suspended"] = True
    return Situation.model_validate({
        "action_type": action, "actor_role": rng.choice(ROLES), "actor_id": actor,
        "resource": rng.choice(RESOURCES[action]), "t3_tensor": random_trust(rng),
        "context": context})


def labelled(n: int, seed: int, rules: RulesEngine,
             prefix: str) -> list[tuple[str, Situation, Decision]]:
    """n situations, a third of each decision (a constant answer cannot do well)."""
    rng = random.Random(seed)
    wanted = {d: n // len(DECISIONS) + (1 if i < n % len(DECISIONS) else 0)
              for i, d in enumerate(DECISIONS)}
    out: list[tuple[str, Situation, Decision]] = []
    while len(out) < n:
        name = f"{prefix}{len(out):03d}"
        situation = random_situation(rng, f"user:{name}")
        decision = rules.decide(situation).decision
        if wanted[decision] > 0:
            wanted[decision] -= 1
            out.append((name, situation, decision))
    return out


def rule_reasoning(rules: RulesEngine, situation: Situation, max_chars: int = 120) -> str:
    """Why the rules decided so: the base rule's description, or the floor that set the
    decision when one did (short: the model imitates the examples' length)."""
    made = rules.decide(situation)
    by_id = {r.id: r for r in (*rules.spec.base, *rules.spec.floors)}
    deciding = next((by_id[i] for i in reversed(made.floors)
                     if by_id[i].decision is made.decision), None)
    rule = deciding or by_id.get(made.base_rule)
    text = rule.description if rule else "No rule allows it"
    text = text.split(" (context")[0].replace('"', "").replace("\\", "")
    return text if len(text) <= max_chars else text[:max_chars - 3].rstrip() + "..."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write labelled random situations as JSONL.")
    parser.add_argument("kind", choices=["pool", "dev"])
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    rules = load_rules()
    prefix = "g" if args.kind == "pool" else "dev-"
    for name, situation, decision in labelled(args.n, args.seed, rules, prefix):
        row: dict[str, Any] = {"id": name, "situation": situation.plain()}
        if args.kind == "pool":
            row.update(decision=decision.value, reasoning=rule_reasoning(rules, situation))
        else:
            row["expected"] = decision.value
        sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
