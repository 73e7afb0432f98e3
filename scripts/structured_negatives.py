"""Write data/guard/train/structured.jsonl, openers.jsonl and fragments.jsonl: ordinary text
that is not a whole message.

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
- openers.jsonl, neutral for every head (sources.NEUTRAL): the first words of answers;
- fragments.jsonl, neutral for every head: ordinary sentences cut mid-way, as the output
  guard sees a stream stopped by max_tokens.

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


# Whole answer sentences of the kind a small model writes; their prefixes are what the
# output guard sees when a stream stops at max_tokens ("...endless possibilities, where
# every" scored 0.91 toxicity).
ANSWERS = [
    "The sky is a canvas of endless possibilities, where every sunset paints a new story.",
    "The sky is blue because air scatters short wavelengths of sunlight more than long ones.",
    "To make a simple tomato sauce, warm olive oil, add garlic, then simmer the tomatoes.",
    "Here is a short summary of the article you shared with me this morning.",
    "You can reset your password from the account settings page in a few steps.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "The meeting has been moved to Thursday at three, in the small conference room.",
    "A good cover letter is short, specific and tailored to the job you are applying for.",
    "In Python, a list comprehension builds a new list from an existing iterable.",
    "Once upon a time, in a quiet village by the sea, there lived an old fisherman.",
    "The French Revolution began in 1789 and reshaped politics across Europe.",
    "Drink plenty of water, rest, and see a doctor if the fever lasts more than three days.",
    "Your order has shipped and should arrive within five working days.",
    "The mountains rose above the valley, where every morning the mist lifted slowly.",
    "Exercise improves mood, sleep and heart health when it becomes a regular habit.",
    "To install the package, run the installer and follow the prompts on the screen.",
    "The poem uses the image of a river to talk about time passing and memory.",
    "There are several ways to approach this problem, and each has its own trade-offs.",
    "The recipe serves four people and takes about forty minutes from start to finish.",
    "A balanced budget tracks income, fixed costs and savings every single month.",
    "I hope this helps, and let me know if you would like more examples or details.",
    "The city at night was alive with lights, music and the smell of street food.",
    "Machine learning models learn patterns from data rather than from explicit rules.",
    "The train leaves from platform two, and the journey takes just under an hour.",
    "Gardening in spring starts with clearing the beds and adding fresh compost.",
    "The results show a steady increase in sales over the last three quarters.",
    "Every great journey begins with a single step, and yours starts right here.",
    "The cat curled up on the windowsill, where every afternoon the sun warmed the glass.",
    "Learning a language takes daily practice, patience and plenty of listening.",
    "The function returns the sum of every element in the list that is greater than zero.",
]
FRAGMENT_SEED = 20261201


def fragment_rows(rng: random.Random) -> list[str]:
    """Prefixes of whole sentences cut at word boundaries (2 words up to one short of the
    sentence): the answer sentences above and the ordinary English requests of the
    training files."""
    sentences = list(ANSWERS)
    for path in sorted(TRAIN.glob("*.jsonl")):
        if path.name in ("structured.jsonl", "openers.jsonl", "fragments.jsonl"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("kind") == "negative" and row.get("lang") == "en" and "text" in row:
                sentences.append(row["text"])
    fragments: set[str] = set()
    for sentence in sentences:
        words = sentence.split()
        if len(words) < 4:
            continue
        for cut in rng.sample(range(2, len(words)), min(2, len(words) - 2)):
            fragments.add(" ".join(words[:cut]).rstrip(",;:"))
    return sorted(fragments)


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
    write(TRAIN / "fragments.jsonl",
          [(t, "fragment") for t in fragment_rows(random.Random(FRAGMENT_SEED))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
