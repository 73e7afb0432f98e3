"""No silent regressions: the guard on the blind held-out set stays above its floors.

The held-out set (tests/data/safety/heldout/, written before tuning by someone who never saw
the detectors) is read only through `warden.safety.training.evaluate`, which returns
aggregate figures. Nothing here prints or asserts on a row; a failure names the category,
the figure and the floor.

Floors are issue 12's targets where the guard reaches them; elsewhere they are the value
measured when the classifiers shipped, minus a margin of about one row in 60-80 (the
figures are deterministic: the margin absorbs float noise in MiniLM, not real losses).
A change that loses recall, or adds false positives, fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from warden.safety.detectors.pii import PiiDetector
from warden.safety.pipeline import GuardPipeline
from warden.safety.training.evaluate import binary_figures, pii_figures, read_rows

HELDOUT = Path(__file__).resolve().parents[2] / "data" / "safety" / "heldout"
ROOT = Path(__file__).resolve().parents[3]

# category -> (recall floor, FPR ceiling). Measured 2026-11-30 after the heads were retrained
# with structured text and answer openers as negatives (benchmarks/results/
# safety-latest.json); targets: crisis recall 0.95 / FPR 0.05, toxicity 0.90 / 0.05,
# injection 0.95 / 0.02. No recall target is reached yet, so every floor is measured - margin:
# crisis 0.6836 / 0.035, toxicity 0.8876 / 0.0452, injection 0.7531 / 0.0711 (per-sentence
# windows), bias 0.7976 / 0.0686, therapeutic 0.8659 / 0.0594 (bias and therapeutic: the
# worked operator categories). The retraining cost crisis 3 rows of recall (0.70 -> 0.68)
# and toxicity 2 (0.90 -> 0.89); injection gained 5 (0.72 -> 0.75) at the same FPR, and it
# no longer blocks 5 of the 74 advisory suite situations.
FLOORS: dict[str, tuple[float, float]] = {
    "crisis": (0.67, 0.05),
    "toxicity": (0.87, 0.06),
    "injection": (0.73, 0.09),
    "bias": (0.77, 0.09),
    "therapeutic": (0.84, 0.08),
}
# PII with NER on: (entity recall floor, clean-rows-flagged ceiling); targets 0.95 / 0.05,
# measured 0.757 / 0.190.
PII_FLOOR = (0.74, 0.21)


@pytest.fixture(scope="module")
def pipeline() -> GuardPipeline:
    from warden.config.models import SafetyConfig
    from warden.safety.custom import WORKED_EXAMPLES

    config = SafetyConfig.model_validate({"categories": WORKED_EXAMPLES})
    guard = GuardPipeline.from_config(config, base_dir=ROOT)
    guard.warm_up()
    return guard


@pytest.mark.parametrize("category", sorted(FLOORS))
def test_category_holds_its_floor(pipeline: GuardPipeline, category: str) -> None:
    figures: dict[str, Any] = binary_figures(pipeline, read_rows(HELDOUT / f"{category}.jsonl"),
                                             category)
    recall, fpr = figures["recall"]["value"], figures["fpr"]["value"]
    floor, ceiling = FLOORS[category]
    assert recall >= floor, f"{category}: held-out recall {recall} fell below its floor {floor}"
    assert fpr <= ceiling, f"{category}: held-out FPR {fpr} rose above its ceiling {ceiling}"


def test_pii_holds_its_floor() -> None:
    figures = pii_figures(PiiDetector(ner=True), read_rows(HELDOUT / "pii.jsonl"))
    recall = figures["entity_recall"]["value"]
    flagged = figures["clean_rows_flagged"]["value"]
    assert recall >= PII_FLOOR[0], f"pii: entity recall {recall} below {PII_FLOOR[0]}"
    assert flagged <= PII_FLOOR[1], f"pii: clean rows flagged {flagged} above {PII_FLOOR[1]}"
