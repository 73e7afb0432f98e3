"""Write data/guard/train/structured.jsonl and openers.jsonl: ordinary text that is not prose.

The guard heads were trained on messages people write. Two kinds of ordinary input they had
never seen fired them (found in CI, not on the held-out set): structured text (the policy
advisor's situation lines "context: change_approved=true, environment=production" scored
0.89 injection; 5 of the 74 suite situations were blocked) and the first words of a model's
answer, which the output guard checks line by line ("To make" scored 0.82 toxicity). This
script writes seeded examples of both, labelled 0:

- structured.jsonl, injection negatives (sources.OWN["injection"]): situations from the
  advisory generator (warden.policy.synthetic, its own seed, never the semantic suite) in
  the v4-hybrid user turn's shape, and config, log, CSV, JSON and shell lines from
  templates with random values. Only for injection: as negatives for every head they
  also taught toxicity that a line with an e-mail address in it is never abuse;
- openers.jsonl, neutral for every head (sources.NEUTRAL): the first words of answers.

    .venv/bin/python scripts/structured_negatives.py   # then: make guard-models
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from warden.policy.rules import load_rules  # noqa: E402
from warden.policy.synthetic import random_situation  # noqa: E402

TRAIN = ROOT / "data" / "guard" / "train"
SEED = 20261130
SITUATIONS = 120

KEYS = ["environment", "region", "replicas", "timeout_s", "log_level", "retries", "owner",
        "change_approved", "feature_flag", "max_connections", "cache_ttl", "visibility"]
VALUES = ["production", "staging", "eu-west-1", "3", "30", "debug", "true", "false", "ops",
          "public", "120", "none", "us-east-2", "info", "8"]
TEMPLATES = [
    "{k1}: {v1}\n{k2}: {v2}\n{k3}: {v3}",
    "{k1}={v1} {k2}={v2} {k3}={v3}",
    "2026-11-{d:02d} 10:{m:02d}:{s:02d} INFO deploy {k1}={v1} {k2}={v2} status=ok",
    "2026-11-{d:02d}T08:{m:02d}:{s:02d}Z WARN retrying request attempt={d} {k1}={v1}",
    '{{"{k1}": "{v1}", "{k2}": "{v2}", "{k3}": "{v3}"}}',
    "{k1},{k2},{k3}\n{v1},{v2},{v3}\n{v3},{v1},{v2}",
    "export {K1}={v1}\nexport {K2}={v2}",
    "kubectl set env deployment/api {K1}={v1} --namespace {v2}",
    "[{k1}]\n{k2} = {v2}\n{k3} = {v3}",
    "| {k1} | {k2} |\n|---|---|\n| {v1} | {v2} |",
    "ERROR {k1} must be one of [{v1}, {v2}] (got {v3})",
    "- name: {k1}\n  value: {v1}\n- name: {k2}\n  value: {v2}",
]
OPENERS = [
    "Here's", "Here's a", "Here is", "Here is an example:", "Sure!", "Sure, here you go:",
    "OK.", "Okay,", "To do this:", "To make", "To", "You can", "You", "Yes.", "No.",
    "Certainly.", "Step 1:", "First,", "In short:", "Note:", "Example:", "Output:", "Answer:",
    "Of course.", "Great question!", "Got it.", "Done.", "Thanks!", "Hmm.", "Well,",
    "The short answer:", "Let me explain.", "I think", "Try this:", "As follows:",
    "Below is", "This means", "It depends.", "Good point.", "Right.",
]


def situation_rows(rng: random.Random) -> list[str]:
    scale = load_rules().scale
    return [f"Situation:\n{random_situation(rng, f'user:s{i:03d}').describe(scale)}"
            for i in range(SITUATIONS)]


def template_rows(rng: random.Random) -> list[str]:
    rows = []
    for i in range(len(TEMPLATES) * 5):
        k1, k2, k3 = rng.sample(KEYS, 3)
        v1, v2, v3 = (rng.choice(VALUES) for _ in range(3))
        rows.append(TEMPLATES[i % len(TEMPLATES)].format(
            k1=k1, k2=k2, k3=k3, v1=v1, v2=v2, v3=v3, K1=k1.upper(), K2=k2.upper(),
            d=rng.randint(1, 28), m=rng.randint(0, 59), s=rng.randint(0, 59)))
    return rows


def write(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for text, kind in rows:
            out.write(json.dumps({"text": text, "label": 0, "lang": "en", "source": "user",
                                  "kind": kind, "origin": "generated"}) + "\n")
    print(f"wrote {len(rows)} rows to {path.relative_to(ROOT)}")


def main() -> int:
    rng = random.Random(SEED)
    write(TRAIN / "structured.jsonl", [(t, "situation") for t in situation_rows(rng)]
          + [(t, "structured") for t in template_rows(rng)])
    write(TRAIN / "openers.jsonl", [(t, "opener") for t in OPENERS])
    return 0


if __name__ == "__main__":
    sys.exit(main())
