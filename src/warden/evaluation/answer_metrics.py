"""Judge-free metrics from gold labels: retrieval hit, gold use, token F1 / exact match,
latency, budget and prefix-leakage violations. Pure: the runner records what happened per
item (an `ItemRecord`) and these functions turn the records into `Metric`s.

Token F1 and exact match follow the SQuAD v1.1 evaluation script: lower case, drop ASCII
punctuation, drop the articles a/an/the, split on whitespace; the best score over the gold
answers counts.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from warden.evaluation.metric import Metric

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
_CITATION_MARK = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Ref:
    """A retrieved chunk, by its content address and the document it came from."""

    chunk_id: str
    doc_id: str


@dataclass(frozen=True)
class Gold:
    """An eval item's gold labels: the chunks or documents holding the answer, and the
    acceptable answers. A chunk id matches exactly; a doc id matches any chunk of it."""

    answers: tuple[str, ...] = ()
    chunk_ids: frozenset[str] = frozenset()
    doc_ids: frozenset[str] = frozenset()

    @property
    def has_refs(self) -> bool:
        return bool(self.chunk_ids or self.doc_ids)

    def matches(self, ref: Ref) -> bool:
        return ref.chunk_id in self.chunk_ids or ref.doc_id in self.doc_ids


@dataclass(frozen=True)
class ItemRecord:
    """What the runner saw for one eval item. None means "not recorded" (that metric is then
    measured on the other items, or unmeasured if no item has it)."""

    item_id: str
    gold: Gold
    answer: str | None = None  # None: the request failed; it scores 0 on F1 and EM
    candidates_prefilter: tuple[Ref, ...] | None = None  # retrieval before caps and filters
    cited: tuple[Ref, ...] | None = None  # chunks the answer cites
    latency_s: float | None = None
    context_tokens: int | None = None
    context_budget: int | None = None
    prefix_leak: bool | None = None  # the health check saw prefix text in the BM25 text


# SQuAD normalisation and scores ------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD v1.1: lower, remove punctuation, remove articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _f1_one(prediction: str, gold: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:  # includes an empty side: no overlap, 0 (SQuAD v1.1), never 0/0
        return 0.0
    p, r = same / len(predicted), same / len(expected)
    return 2 * p * r / (p + r)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-level F1 over the gold answers; 0 when there are none."""
    return max((_f1_one(prediction, gold) for gold in answers), default=0.0)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0."""
    normalised = normalize_answer(prediction)
    return float(any(normalised == normalize_answer(gold) for gold in answers))


# Gold use ----------------------------------------------------------------------------------
def oracle_hit(candidates: Iterable[Ref], gold: Gold) -> bool:
    """A gold chunk or document is among the retrieval candidates (before caps/filters)."""
    return any(gold.matches(ref) for ref in candidates)


def used_gold(cited: Iterable[Ref], gold: Gold) -> bool:
    """The answer cites a gold chunk (or a chunk of a gold document)."""
    return any(gold.matches(ref) for ref in cited)


def cited_refs(answer: str, citations: Sequence[tuple[int, Ref]]) -> tuple[Ref, ...]:
    """The refs an answer cites by its [n] markers, given the numbered citations it was
    offered; a marker with no such citation cites nothing."""
    by_number = dict(citations)
    numbers = dict.fromkeys(int(m) for m in _CITATION_MARK.findall(answer))
    return tuple(by_number[n] for n in numbers if n in by_number)


# Aggregation -------------------------------------------------------------------------------
def _rate(name: str, records: Sequence[ItemRecord],
          observe: Callable[[ItemRecord], bool | None], unmeasured_reason: str) -> Metric:
    observed = [obs for obs in (observe(r) for r in records) if obs is not None]
    if not observed:
        return Metric.unmeasured(name, unmeasured_reason)
    items = [1.0 if obs else 0.0 for obs in observed]
    return Metric.measured(name, float(np.mean(items)), items)


def _with_gold_refs(record: ItemRecord, refs: tuple[Ref, ...] | None,
                    test: Callable[[Iterable[Ref], Gold], bool]) -> bool | None:
    if refs is None or not record.gold.has_refs:
        return None
    return test(refs, record.gold)


def _answer_score(record: ItemRecord,
                  score: Callable[[str, Sequence[str]], float]) -> float | None:
    if not record.gold.answers:
        return None
    return 0.0 if record.answer is None else score(record.answer, record.gold.answers)


def _mean(name: str, values: Sequence[float | None], reason: str) -> Metric:
    items = [v for v in values if v is not None]
    if not items:
        return Metric.unmeasured(name, reason)
    return Metric.measured(name, float(np.mean(items)), items)


def _latency(records: Sequence[ItemRecord]) -> tuple[Metric, Metric]:
    latencies = [r.latency_s for r in records if r.latency_s is not None]
    if not latencies:
        reason = "no item recorded a latency"
        return (Metric.unmeasured("latency_p50_s", reason),
                Metric.unmeasured("latency_p95_s", reason))
    p50, p95 = np.percentile(np.asarray(latencies, dtype=np.float64), [50, 95])
    return (Metric.measured("latency_p50_s", float(p50), latencies),
            Metric.measured("latency_p95_s", float(p95), latencies))


def _violations(name: str, flags: Sequence[bool | None], reason: str) -> Metric:
    """A count, not an estimate: every item is checked, so the value is exact."""
    observed = [f for f in flags if f is not None]
    if not observed:
        return Metric.unmeasured(name, reason)
    items = [1.0 if f else 0.0 for f in observed]
    return Metric.measured(name, float(sum(items)), items)


def _over_budget(record: ItemRecord) -> bool | None:
    if record.context_tokens is None or record.context_budget is None:
        return None
    return record.context_tokens > record.context_budget


def answer_metrics(records: Sequence[ItemRecord]) -> dict[str, Metric]:
    """Every judge-free metric over the eval items, by name."""
    no_refs = "no item has both gold chunk/doc labels and {what} recorded"
    latency_p50, latency_p95 = _latency(records)
    metrics = [
        _rate("oracle_retrieval_hit_prefilter", records,
              lambda r: _with_gold_refs(r, r.candidates_prefilter, oracle_hit),
              no_refs.format(what="pre-filter retrieval candidates")),
        _rate("reader_used_gold", records,
              lambda r: _with_gold_refs(r, r.cited, used_gold),
              no_refs.format(what="the answer's citations")),
        _mean("token_f1", [_answer_score(r, token_f1) for r in records],
              "no item has a gold answer"),
        _mean("exact_match", [_answer_score(r, exact_match) for r in records],
              "no item has a gold answer"),
        latency_p50,
        latency_p95,
        _violations("budget_violations", [_over_budget(r) for r in records],
                    "no item recorded its context tokens and budget"),
        _violations("prefix_leakage_violations", [r.prefix_leak for r in records],
                    "no item recorded a prefix-leakage check"),
    ]
    return {m.name: m for m in metrics}
