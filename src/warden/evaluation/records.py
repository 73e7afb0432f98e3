"""One eval item's request and what came back: the request body, the parsed answer with its
citations and retrieval facts, the judge-free per-item figures, the failure class, and the
line written to results.jsonl. Pure: the runner does the HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from warden.evaluation.answer_metrics import (
    Gold,
    ItemRecord,
    Ref,
    cited_refs,
    exact_match,
    token_f1,
)
from warden.evaluation.dataset import EvalItem, align_doc_id
from warden.evaluation.judge import Judgement
from warden.evaluation.prompt import ItemPrompt, sha256_json

SEED = 42
TEMPERATURE = 0.0
WRONG_ANSWER_F1 = 0.5  # below this token F1 against the gold answer, an answer is wrong
_CITATION_MARKS = re.compile(r"\s*\[\d+\]")
_REFUSAL = re.compile(r"does not say|do(es)? not (contain|mention|state)|cannot answer|"
                      r"can't answer|not (mentioned|stated|specified)|no information",
                      re.IGNORECASE)


class FailureClass:
    ERROR = "request_error"
    RETRIEVAL_MISS = "retrieval_miss"  # no gold chunk reached the reader
    REFUSAL = "refusal"  # gold was served, the model said it does not know
    READER_IGNORED_GOLD = "reader_ignored_gold"  # gold was served, the answer cites none
    WRONG_ANSWER = "wrong_answer"  # cites gold, but the answer does not match the gold one
    ANSWERED_UNANSWERABLE = "answered_unanswerable"  # should have said it does not know
    OK = "ok"


def request_body(prompt: ItemPrompt, item: EvalItem, model: str, max_tokens: int,
                 k: int | None) -> dict[str, Any]:
    """Deterministic mode: temperature 0, seed 42, every cache off for the request."""
    retrieval: dict[str, Any] = {"corpus": item.corpus} if item.corpus else {}
    if k is not None:
        retrieval["k"] = k
    body: dict[str, Any] = {"model": model, "messages": list(prompt.messages),
                            "max_tokens": max_tokens, "temperature": TEMPERATURE,
                            "seed": SEED, "cache": False}
    if item.corpus:
        body["retrieval"] = retrieval
    return body


@dataclass
class ItemResult:
    item: EvalItem
    prompt: ItemPrompt
    request_sha256: str
    answer: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    latency_s: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    citations: tuple[tuple[int, Ref], ...] = ()
    retrieval: dict[str, Any] = field(default_factory=dict)
    candidates: tuple[Ref, ...] | None = None
    prefix_leak: bool | None = None
    judgement: Judgement | None = None
    claim_metrics: dict[str, float | None] = field(default_factory=dict)

    @property
    def gold(self) -> Gold:
        return Gold((self.item.gt_answer,), frozenset(self.item.gold_chunk_ids),
                    frozenset(self.item.gold_doc_ids))

    def ref(self, chunk_id: str, doc_id: str) -> Ref:
        return Ref(chunk_id, align_doc_id(doc_id, self.item.gold_doc_ids))

    def cited(self) -> tuple[Ref, ...] | None:
        if self.answer is None or not self.item.corpus:
            return None
        return cited_refs(self.answer, self.citations)

    def scored_answer(self) -> str | None:
        """The answer without its [n] citation marks: they point at sources, they are not
        words of the answer, and would cost token F1 and exact match."""
        return None if self.answer is None else _CITATION_MARKS.sub("", self.answer).strip()

    def served_gold(self) -> bool | None:
        if not self.gold.has_refs or self.answer is None:
            return None
        return any(self.gold.matches(ref) for _, ref in self.citations)

    def oracle_rank(self) -> int | None:
        """1-based position of the first gold candidate before caps and filters."""
        for rank, ref in enumerate(self.candidates or (), start=1):
            if self.gold.matches(ref):
                return rank
        return None

    def record(self) -> ItemRecord:
        return ItemRecord(self.item.id, self.gold, self.scored_answer(), self.candidates,
                          self.cited(), self.latency_s, self.retrieval.get("context_tokens"),
                          self.retrieval.get("budget"), self.prefix_leak)


def new_result(item: EvalItem, prompt: ItemPrompt, body: dict[str, Any]) -> ItemResult:
    return ItemResult(item, prompt, sha256_json(body))


def absorb_response(result: ItemResult, body: dict[str, Any], latency_s: float) -> None:
    """Fill a result from a chat completion with Warden's `warden` extension."""
    try:
        choice = body["choices"][0]
        result.answer = str(choice["message"].get("content") or "")
        result.finish_reason = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError):
        result.error = f"not a chat completion: {str(body)[:200]}"
        return
    result.latency_s = latency_s
    result.usage = dict(body.get("usage") or {})
    warden = body.get("warden") or {}
    citations = warden.get("citations") or []
    result.citations = tuple((int(c["n"]), result.ref(str(c["chunk_id"]), str(c["doc_id"])))
                             for c in citations if isinstance(c, dict))
    retrieval = dict(warden.get("retrieval") or {})
    raw_candidates = retrieval.pop("candidates", None)
    result.retrieval = retrieval
    if isinstance(raw_candidates, list):
        result.candidates = tuple(result.ref(str(c["chunk_id"]), str(c["doc_id"]))
                                  for c in raw_candidates if isinstance(c, dict))


def is_refusal(answer: str) -> bool:
    return bool(_REFUSAL.search(answer))


def failure_class(result: ItemResult) -> str:
    """The first thing that went wrong, in pipeline order."""
    answer = result.answer
    if answer is None:
        return FailureClass.ERROR
    if not result.item.answerable:
        return FailureClass.OK if is_refusal(answer) else FailureClass.ANSWERED_UNANSWERABLE
    served, cited = result.served_gold(), result.cited()
    checks = (
        (served is False, FailureClass.RETRIEVAL_MISS),
        (is_refusal(answer), FailureClass.REFUSAL),
        (bool(served) and cited is not None and
         not any(result.gold.matches(r) for r in cited), FailureClass.READER_IGNORED_GOLD),
        (token_f1(result.scored_answer() or "", (result.item.gt_answer,)) < WRONG_ANSWER_F1,
         FailureClass.WRONG_ANSWER))
    return next((name for failed, name in checks if failed), FailureClass.OK)


def item_figures(result: ItemResult) -> dict[str, float | None]:
    """The judge-free per-item figures (what `compare` pairs up)."""
    answer, gold = result.scored_answer(), (result.item.gt_answer,)
    cited = result.cited()
    has_refs = result.gold.has_refs
    oracle = None if result.candidates is None or not has_refs else \
        float(result.oracle_rank() is not None)
    used = None if cited is None or not has_refs else \
        float(any(result.gold.matches(r) for r in cited))
    served = result.served_gold()
    return {"token_f1": 0.0 if answer is None else token_f1(answer, gold),
            "exact_match": 0.0 if answer is None else exact_match(answer, gold),
            "oracle_retrieval_hit_prefilter": oracle, "reader_used_gold": used,
            "gold_served": None if served is None else float(served),
            "latency_s": result.latency_s}


def result_line(result: ItemResult) -> dict[str, Any]:
    """One line of results.jsonl: everything needed to audit or compare the item."""
    item = result.item
    return {
        "id": item.id, "split": item.split, "domain": item.domain, "kind": item.kind,
        "corpus": item.corpus, "question": item.question, "gt_answer": item.gt_answer,
        "gold_doc_ids": list(item.gold_doc_ids),
        "few_shot_ids": list(result.prompt.few_shot_ids),
        "prompt_hash": result.prompt.prompt_hash, "request_sha256": result.request_sha256,
        "answer": result.answer, "finish_reason": result.finish_reason, "error": result.error,
        "citations": [{"n": n, "chunk_id": ref.chunk_id, "doc_id": ref.doc_id}
                      for n, ref in result.citations],
        "cited": [ref.chunk_id for ref in result.cited() or ()],
        "retrieval": result.retrieval,
        "candidates": None if result.candidates is None else len(result.candidates),
        "oracle_rank": result.oracle_rank(),
        "usage": result.usage, "latency_s": result.latency_s,
        "metrics": item_figures(result), "claim_metrics": result.claim_metrics,
        "judge": None if result.judgement is None else result.judgement.plain(),
        "failure_class": failure_class(result),
    }
