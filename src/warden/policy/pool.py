"""The few-shot pool: worked examples the advisor's prompt shows, picked per situation by the
evaluation package's deterministic KNN over structured features (features.py), behind its
leakage guard against the semantic suite: no example may be, or nearly be, a test case (it
would inflate the measured pass rate).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from warden.evaluation.fewshot import FewShotSelector, LeakageReport, TextItem
from warden.policy.decision import Decision
from warden.policy.features import SituationFeatures, key_text
from warden.policy.situation import Situation


@dataclass(frozen=True)
class PoolExample:
    id: str
    situation: Situation
    decision: Decision
    reasoning: str

    def answer_json(self) -> str:
        """The assistant turn, exactly as the constrained decoder would write it."""
        return json.dumps({"decision": self.decision.value, "reasoning": self.reasoning},
                          ensure_ascii=False)

    def plain(self) -> dict[str, object]:
        return {"id": self.id, "situation": self.situation.plain(),
                "decision": self.decision.value, "reasoning": self.reasoning}


def parse_pool(text: str, source: str) -> tuple[PoolExample, ...]:
    examples: list[PoolExample] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            raw = json.loads(line)
            example = PoolExample(str(raw["id"]), Situation.model_validate(raw["situation"]),
                                  Decision.parse(raw["decision"]), str(raw["reasoning"]))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ValueError(f"{where}: needs id, situation, decision and reasoning ({exc})"
                             ) from exc
        if example.id in seen:
            raise ValueError(f"{where}: id {example.id!r} appears twice")
        if not example.reasoning or '"' in example.reasoning or "\\" in example.reasoning:
            raise ValueError(f"{where}: reasoning must be non-empty plain text without quotes "
                             "or backslashes (the decoder could not write it)")
        seen.add(example.id)
        examples.append(example)
    return tuple(examples)


class ExamplePicker:
    """The pool vectorized once (after the leakage guard); `pick` returns the k nearest."""

    def __init__(self, pool: Sequence[PoolExample], held_out: Sequence[tuple[str, Situation]],
                 features: SituationFeatures) -> None:
        self._by_id = {e.id: e for e in pool}
        self._selector = FewShotSelector([TextItem(e.id, key_text(e.situation)) for e in pool],
                                         [TextItem(i, key_text(s)) for i, s in held_out],
                                         features.embed)

    @property
    def leakage(self) -> LeakageReport:
        return self._selector.report

    @property
    def usable(self) -> int:
        return len(self._selector.ids)

    def pick(self, situation: Situation, k: int) -> tuple[PoolExample, ...]:
        ids = self._selector.select(key_text(situation), k)
        # Nearest last: the example closest to the question sits right before it.
        return tuple(self._by_id[i] for i in reversed(ids))
