"""Judge noise: how much N repeated labellings of the same claims agree, and how far each
RAGChecker metric moves between them.

Input: N checking outputs for the same queries and claims (the judge re-run N times, e.g.
with different seeds or temperatures). Every label position ("cell") must exist in all N.

Agreement, over all cells of all label sets:
- pairwise_agreement: the share of agreeing label pairs, averaged over cells (Fleiss' P-bar);
- unanimous_rate: the share of cells where all N labels are the same;
- entailment_unanimous_rate: the same on "Entailment or not", which is all the metrics see;
- fleiss_kappa: agreement beyond chance; unmeasured when every label is the same category
  (chance agreement is then 1 and kappa is 0/0).
Spread, per metric: min, max and sample standard deviation of the N figures (RAGChecker's
scale, 0-100, unrounded so the spread is not hidden by rounding).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warden.evaluation.metric import Metric
from warden.evaluation.ragchecker import ENTAILMENT, METRICS, score_queries
from warden.evaluation.ragchecker_input import LABEL_FIELDS, CheckedQuery


class LabellingMismatch(ValueError):
    """The labellings do not label the same claims; the message says where they differ."""


@dataclass(frozen=True)
class Spread:
    metric: str
    values: tuple[float, ...]  # one figure per labelling, 0-100
    minimum: float
    maximum: float
    sd: float

    def plain(self, digits: int = 4) -> dict[str, Any]:
        return {"values": [round(v, digits) for v in self.values],
                "min": round(self.minimum, digits), "max": round(self.maximum, digits),
                "sd": round(self.sd, digits)}


@dataclass(frozen=True)
class JudgeNoise:
    n_labellings: int
    n_cells: int
    agreement: dict[str, Metric]
    spreads: dict[str, Spread]
    unmeasured: dict[str, str]  # metric -> why it has no spread

    def plain(self) -> dict[str, Any]:
        return {"n_labellings": self.n_labellings, "n_cells": self.n_cells,
                "agreement": {name: m.plain() for name, m in self.agreement.items()},
                "spread": {name: s.plain() for name, s in self.spreads.items()},
                "unmeasured": self.unmeasured}


def _cells(query: CheckedQuery) -> Iterator[tuple[str, str]]:
    """(position, label) for every label of one query, in a fixed order."""
    for field in LABEL_FIELDS:
        value = query.label_set(field)
        if value is None:
            continue
        for i, entry in enumerate(value):
            if isinstance(entry, str):
                yield f"{field}[{i}]", entry
            else:
                for k, label in enumerate(entry):
                    yield f"{field}[{i}][{k}]", label


def _cell_labels(labellings: Sequence[Sequence[CheckedQuery]]) -> list[list[str]]:
    """One list of N labels per cell; raises when the labellings disagree on structure."""
    first = labellings[0]
    for n, other in enumerate(labellings[1:], start=1):
        if len(other) != len(first):
            raise LabellingMismatch(f"labelling {n} has {len(other)} results, labelling 0 "
                                    f"has {len(first)}")
    cells: list[list[str]] = []
    for q_index, queries in enumerate(zip(*labellings, strict=True)):
        ids = {q.query_id for q in queries}
        if len(ids) != 1:
            raise LabellingMismatch(f"results[{q_index}]: query ids differ between "
                                    f"labellings ({', '.join(sorted(ids))})")
        per_labelling = [list(_cells(q)) for q in queries]
        positions = [p for p, _ in per_labelling[0]]
        for n, labelled in enumerate(per_labelling[1:], start=1):
            if [p for p, _ in labelled] != positions:
                raise LabellingMismatch(
                    f"results[{q_index}] (query_id {queries[0].query_id}): labelling {n} "
                    f"labels other claims or chunks than labelling 0 ({len(labelled)} vs "
                    f"{len(positions)} labels); judge noise needs the same claims each time")
        cells.extend([labelled[c][1] for labelled in per_labelling]
                     for c in range(len(positions)))
    return cells


def _pairwise(labels: Sequence[str]) -> float:
    n = len(labels)
    counts = Counter(labels).values()
    return sum(c * (c - 1) for c in counts) / (n * (n - 1))


def _agreement(cells: Sequence[Sequence[str]], n: int) -> dict[str, Metric]:
    if not cells:
        reason = "the labellings hold no labels"
        return {name: Metric.unmeasured(name, reason) for name in
                ("pairwise_agreement", "unanimous_rate", "entailment_unanimous_rate",
                 "fleiss_kappa")}
    pairwise = [_pairwise(cell) for cell in cells]
    unanimous = [1.0 if len(set(cell)) == 1 else 0.0 for cell in cells]
    entailment = [1.0 if len({label == ENTAILMENT for label in cell}) == 1 else 0.0
                  for cell in cells]
    totals = Counter(label for cell in cells for label in cell)
    chance = sum((count / (len(cells) * n)) ** 2 for count in totals.values())
    observed = float(np.mean(pairwise))
    if chance >= 1.0:
        kappa = Metric.unmeasured("fleiss_kappa", "every label is the same category, so "
                                  "chance agreement is 1 and kappa is undefined")
    else:
        kappa = Metric.measured("fleiss_kappa", (observed - chance) / (1 - chance))
    return {"pairwise_agreement": Metric.measured("pairwise_agreement", observed, pairwise),
            "unanimous_rate": Metric.measured("unanimous_rate", float(np.mean(unanimous)),
                                              unanimous),
            "entailment_unanimous_rate": Metric.measured(
                "entailment_unanimous_rate", float(np.mean(entailment)), entailment),
            "fleiss_kappa": kappa}


def judge_noise(labellings: Sequence[Sequence[CheckedQuery]]) -> JudgeNoise:
    """Agreement and per-metric spread over N >= 2 labellings of the same claims."""
    if len(labellings) < 2:
        raise ValueError(f"judge noise needs at least 2 labellings of the same claims, got "
                         f"{len(labellings)}")
    cells = _cell_labels(labellings)
    scores = [score_queries(queries).fractions() for queries in labellings]
    spreads: dict[str, Spread] = {}
    unmeasured: dict[str, str] = {}
    for name in METRICS:
        metrics = [score[name] for score in scores]
        missing = next((m for m in metrics if not m.is_measured), None)
        if missing is not None:
            unmeasured[name] = missing.reason or "unmeasured in a labelling"
            continue
        values = tuple(100 * m.value for m in metrics if m.value is not None)
        spreads[name] = Spread(name, values, min(values), max(values),
                               float(np.std(values, ddof=1)))
    return JudgeNoise(len(labellings), len(cells), _agreement(cells, len(labellings)),
                      spreads, unmeasured)
