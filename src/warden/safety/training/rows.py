"""Labelled rows for training a guard category, and their validation folds.

Sources (all training/tuning data; the held-out set under tests/data/safety/heldout/ is never
read here):
- `data/guard/train/<category>.jsonl`, written for training (see its README);
- the older sets `tests/data/safety/<category>.jsonl` and `tests/data/safety/dev/`;
- the phrase files `warden/safety/data/*.txt` (`+` / `-` lines);
- every label-0 row of the *other* categories and the PII set, as extra ordinary negatives
  (their positives are left out: an injection that asks for an insult is toxic too).

Folds are by group, not by row: an augmented row (leetspeak, spacing, an encoding of a
written row) joins the group of the written row it was made from, so a variant is never
validated against a model trained on its source.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from warden.safety.context import user_context
from warden.safety.textviews import canonical

FOLDS = 5


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    label: int
    origin: str            # file it came from, relative to the repository
    own: bool = True       # a row of this category (False: borrowed ordinary negative)
    lang: str = "en"
    kind: str = ""
    source: str = "user"
    augmented: bool = False
    group: str = ""

    @property
    def fold(self) -> int:
        return int(hashlib.sha256(self.group.encode()).hexdigest(), 16) % FOLDS


def row_text(raw: dict[str, Any]) -> str:
    """A JSONL row's text; a conversation row is read as its last user turns joined."""
    if "messages" in raw:
        return user_context(raw["messages"])
    return str(raw["text"])


def read_jsonl(path: Path, root: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            raw = json.loads(line)
            rows.append(Row(text=row_text(raw), label=int(raw["label"]),
                            origin=str(path.relative_to(root)),
                            lang=str(raw.get("lang", "en")), kind=str(raw.get("kind", "")),
                            source=str(raw.get("source", "user")),
                            augmented=raw.get("origin") == "augmented"))
    return rows


def read_phrases(path: Path, root: Path) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        sign, _, phrase = line.strip().partition(" ")
        if sign in ("+", "-") and phrase.strip():
            rows.append(Row(text=phrase.strip(), label=int(sign == "+"),
                            origin=str(path.relative_to(root)), kind="phrase"))
    return rows


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normal(text: str) -> str:
    return " ".join(canonical(text).lower().split())


def assign_groups(rows: Sequence[Row]) -> list[Row]:
    """Each row's group: its normalised text, or for an augmented row that of the nearest
    written row of the same file and label (cosine of character 3-5-grams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    grouped = [replace(r, group=_normal(r.text)) for r in rows]
    augmented = [i for i, r in enumerate(grouped) if r.augmented]
    if not augmented:
        return grouped
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    matrix = vectorizer.fit_transform([r.group for r in grouped])
    for i in augmented:
        candidates = [j for j, r in enumerate(grouped) if not r.augmented
                      and r.origin == grouped[i].origin and r.label == grouped[i].label]
        if not candidates:
            continue
        sims = (matrix[candidates] @ matrix[i].T).toarray().ravel()
        grouped[i] = replace(grouped[i], group=grouped[candidates[int(np.argmax(sims))]].group)
    return grouped


def dedupe(rows: Iterable[Row]) -> list[Row]:
    """First occurrence of each (normalised text, label); a text seen with both labels keeps
    the row from its own category."""
    seen: dict[str, Row] = {}
    for row in rows:
        key = _normal(row.text)
        if key not in seen or (row.own and not seen[key].own):
            seen[key] = row
    return list(seen.values())
