"""Operator-defined categories: a gate trained at start-up from a description and examples.

Seed 003 names gates (bias, therapeutic appropriateness, off-topic, domain policy) whose
meaning differs per deployment, so an operator defines them in `warden.yaml`:

```yaml
safety:
  categories:
    - name: bias
      description: Requests for or assertions of stereotyped judgements about protected groups.
      examples_file: data/guard/train/bias.jsonl   # {"text", "label"} per line, or "+ "/"- " lines
      positives: ["Why are women worse at maths?"]   # optional, added to the file's rows
      negatives: ["How do I write an inclusive job ad?"]
      action: block                                 # the default; tiers may override it
      stages: [input]                               # input, output or both
      target_fpr: 0.05
```

At start-up each category becomes a `ClassifierDetector` whose head is trained exactly like
the built-ins (`training.fit.fit_head`: grouped folds, calibration, threshold for the target
FPR, screen), over the same features, plus the description's embedding as a prior
direction. Findings carry the category's name, so tiers, audit records and metrics treat it
like any built-in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warden.safety.classifier.detector import ClassifierDetector
from warden.safety.classifier.features import FeatureSpec, embeddings
from warden.safety.classifier.head import Head
from warden.safety.training.rows import Row, assign_groups, dedupe

log = logging.getLogger(__name__)
MIN_EXAMPLES = 10  # per label: fewer cannot set a threshold for any FPR

# The worked examples: seed 003's bias and therapeutic gates as `safety.categories` entries
# (docs/safety-detectors.md shows them as YAML; examples_file paths are relative to the repo).
WORKED_EXAMPLES: list[dict[str, str]] = [
    {"name": "bias", "description": "Requests for, or assertions of, stereotyped or "
     "discriminatory judgements about people because of a protected attribute (gender, "
     "race, ethnicity, religion, nationality, age, disability, sexual orientation).",
     "examples_file": "data/guard/train/bias.jsonl", "action": "block"},
    {"name": "therapeutic", "description": "Requests that a wellbeing assistant diagnose a "
     "mental illness, prescribe or change psychiatric medication, replace therapy, give "
     "trauma-processing instructions, or approve stopping psychiatric medication.",
     "examples_file": "data/guard/train/therapeutic.jsonl", "action": "escalate"},
]


@dataclass(frozen=True)
class CategoryDefinition:
    """What the config says about one operator category (see the module docstring)."""

    name: str
    description: str
    examples_file: str | None = None
    positives: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    action: str = "block"
    stages: tuple[str, ...] = ("input",)
    target_fpr: float = 0.05

    @classmethod
    def from_config(cls, config: Any) -> CategoryDefinition:
        return cls(name=config.name, description=config.description,
                   examples_file=config.examples_file, positives=tuple(config.positives),
                   negatives=tuple(config.negatives), action=config.action,
                   stages=tuple(config.stages), target_fpr=config.target_fpr)


def read_examples(path: Path) -> list[tuple[str, int]]:
    """(text, label) from JSONL rows ({"text" or "messages", "label"}) or from "+ "/"- "
    lines (anything else, and "#" lines, are skipped)."""
    from warden.safety.training.rows import row_text

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                out.append((row_text(raw), int(raw["label"])))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: each line needs \"text\" (or \"messages\") "
                                 f"and \"label\" 0/1: {e}") from e
        return out
    pairs = []
    for line in text.splitlines():
        sign, _, phrase = line.strip().partition(" ")
        if sign in ("+", "-") and phrase.strip():
            pairs.append((phrase.strip(), int(sign == "+")))
    return pairs


def definition_rows(definition: CategoryDefinition, base_dir: Path | None = None
                    ) -> list[Row]:
    pairs: list[tuple[str, int]] = []
    origin = "config"
    if definition.examples_file:
        path = Path(definition.examples_file)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.exists():
            raise ValueError(f"safety.categories[{definition.name}].examples_file: {path} does "
                             "not exist; give a JSONL or '+ '/'- ' lines file")
        pairs += read_examples(path)
        origin = str(path)
    pairs += [(t, 1) for t in definition.positives] + [(t, 0) for t in definition.negatives]
    rows = assign_groups(dedupe(Row(text=t, label=y, origin=origin) for t, y in pairs))
    counts = [sum(r.label == y for r in rows) for y in (0, 1)]
    if min(counts) < MIN_EXAMPLES:
        raise ValueError(f"safety.categories[{definition.name}]: needs at least {MIN_EXAMPLES} "
                         f"positive and {MIN_EXAMPLES} negative examples, has {counts[1]} and "
                         f"{counts[0]}; add examples or an examples_file")
    return rows


def train_definition(definition: CategoryDefinition, *, base_dir: Path | None = None,
                     embedder: Any = None) -> Head:
    """The category's head, trained now (a few seconds: mostly embedding the examples)."""
    from warden.safety.training.fit import FitSettings, fit_head

    rows = definition_rows(definition, base_dir)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return embeddings(texts, embedder)

    prior = embed([definition.description])[0]
    head = fit_head(definition.name, rows, FeatureSpec(), FitSettings(
        target_fpr=definition.target_fpr, c_screen=4.0, c_full=4.0), embed, prior=prior)
    report = head.card["validation"]
    log.info("safety category %s trained on %d examples: validation recall %s, FPR %s",
             definition.name, len(rows), report["recall"]["value"], report["fpr"]["value"])
    return head


class OperatorCategoryDetector(ClassifierDetector):
    """A `ClassifierDetector` whose head is trained from the config on first `load()`."""

    def __init__(self, definition: CategoryDefinition, *, base_dir: Path | None = None,
                 embedder: Any = None) -> None:
        self.definition = definition
        super().__init__(definition.name, lambda: train_definition(
            definition, base_dir=base_dir, embedder=embedder), label=definition.name.upper(),
            embedder=embedder)
        self.stages = frozenset(definition.stages)


def operator_detectors(configs: Sequence[Any], base_dir: Path | None = None
                       ) -> list[OperatorCategoryDetector]:
    return [OperatorCategoryDetector(CategoryDefinition.from_config(c), base_dir=base_dir)
            for c in configs]
