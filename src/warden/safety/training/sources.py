"""Where the built-in categories' training rows come from (paths relative to the repo)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from warden.safety.training.rows import Row, assign_groups, dedupe, read_jsonl, read_phrases

GUARD = "data/guard/train"
OLD = "tests/data/safety"
PHRASES = "src/warden/safety/data"

OWN: dict[str, tuple[str, ...]] = {
    "crisis": (f"{GUARD}/crisis.jsonl", f"{OLD}/crisis.jsonl", f"{PHRASES}/crisis_anchors.txt"),
    "toxicity": (f"{GUARD}/toxicity.jsonl", f"{OLD}/toxicity.jsonl"),
    "injection": (f"{GUARD}/injection.jsonl", f"{OLD}/injection.jsonl",
                  f"{OLD}/dev/injection.jsonl", f"{PHRASES}/injection_corpus.txt",
                  f"{GUARD}/structured.jsonl"),
}
# Label-0 rows of these files are ordinary text for every other category.
BORROWED = (f"{GUARD}/crisis.jsonl", f"{GUARD}/toxicity.jsonl", f"{GUARD}/injection.jsonl",
            f"{GUARD}/bias.jsonl", f"{GUARD}/therapeutic.jsonl", f"{OLD}/crisis.jsonl",
            f"{OLD}/toxicity.jsonl", f"{OLD}/injection.jsonl")
# No row of these is a crisis, abuse or an attack (openers.jsonl: the first words of answers,
# and fragments.jsonl: ordinary sentences cut mid-way; both by scripts/structured_negatives.py).
NEUTRAL = (f"{OLD}/pii.jsonl", f"{GUARD}/openers.jsonl",
           f"{GUARD}/fragments.jsonl")


def _read(root: Path, path: str) -> list[Row]:
    full = root / path
    return read_phrases(full, root) if full.suffix == ".txt" else read_jsonl(full, root)


def files_for(category: str) -> list[str]:
    """Every file a category's model is trained from (for the card's checksums)."""
    if category not in OWN:
        raise ValueError(f"no built-in training data for category {category!r}; "
                         f"expected one of {sorted(OWN)}")
    borrowed = [p for p in BORROWED if p not in OWN[category]]
    return [*OWN[category], *borrowed, *NEUTRAL]


def builtin_rows(category: str, root: Path) -> list[Row]:
    """The category's own rows, then borrowed ordinary negatives, deduplicated and grouped."""
    own = [r for path in OWN.get(category, ()) for r in _read(root, path)]
    borrowed = [replace(r, own=False) for path in files_for(category)[len(OWN[category]):]
                if path not in NEUTRAL for r in _read(root, path) if r.label == 0]
    neutral = [replace(r, own=False, label=0) for path in NEUTRAL for r in _read(root, path)]
    return assign_groups(dedupe([*own, *borrowed, *neutral]))
