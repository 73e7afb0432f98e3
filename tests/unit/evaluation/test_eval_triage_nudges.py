"""Triage (worst items, per-domain, failure classes) and the dev-split config grid: the
grid re-fuses engine rankings exactly like the server and suggests only confident gains."""

from __future__ import annotations

from warden.evaluation.dataset import EvalItem
from warden.evaluation.local_store import Ranking
from warden.evaluation.nudges import (
    GoldQuery,
    GridPoint,
    dev_nudges,
    gold_chunks,
    grid,
    hits,
    search_grid,
    top_k,
)
from warden.evaluation.triage import failure_classes, per_domain, triage, worst_items


def line(item_id: str, domain: str, cls: str, f1: float, claim_f1: float | None = None,
         error: str | None = None) -> dict[str, object]:
    return {"id": item_id, "domain": domain, "failure_class": cls, "error": error,
            "question": "Q", "answer": None if error else "A", "gt_answer": "G",
            "metrics": {"token_f1": f1, "exact_match": 0.0, "gold_served": 1.0},
            "claim_metrics": {} if claim_f1 is None else {"f1": claim_f1}}


LINES = [line("a", "text", "ok", 0.9), line("b", "text", "wrong_answer", 0.1),
         line("c", "data", "retrieval_miss", 0.3, claim_f1=0.05),
         line("d", "data", "request_error", 0.0, error="504"), line("e", "data", "ok", 1.0)]


def test_worst_items_put_errors_first_then_low_scores_and_skip_ok() -> None:
    assert [w["id"] for w in worst_items(LINES)] == ["d", "c", "b"]
    assert worst_items(LINES, 1)[0]["error"] == "504"


def test_per_domain_and_failure_classes() -> None:
    domains = per_domain(LINES)
    assert domains["text"]["n"] == 2 and domains["text"]["token_f1"] == 0.5
    assert domains["data"]["ok"] == 1 and domains["data"]["claim_f1"] == 0.05
    classes = failure_classes(LINES)
    assert next(iter(classes)) == "ok" and classes["ok"] == {"count": 2, "share": 0.4,
                                                          "examples": ["a", "e"]}
    assert triage([]) == {"worst_items": [], "per_domain": {}, "failure_classes": {}}


# The grid ------------------------------------------------------------------------------
DOC_OF = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "c1": "C"}


def test_top_k_is_weighted_rrf_then_the_per_document_cap() -> None:
    ranking = Ranking(lexical=("a1", "a2", "a3", "b1"), vector=("c1", "a1", "b1"))
    both = GridPoint(1.0, 1.0, per_doc_cap=2, k=3)
    # a1 1/61+1/62, b1 1/64+1/63, c1 1/61, a2 1/62, a3 1/63
    assert top_k(ranking, DOC_OF, both, rrf_k=60) == ["a1", "b1", "c1"]
    assert top_k(ranking, DOC_OF, GridPoint(1.0, 0.0, 2, 3), 60) == ["a1", "a2", "b1"]
    assert top_k(ranking, DOC_OF, GridPoint(1.0, 0.0, 3, 3), 60) == ["a1", "a2", "a3"]
    assert top_k(ranking, DOC_OF, GridPoint(0.0, 1.0, 1, 2), 60) == ["c1", "a1"]


def test_grid_contains_the_current_point_and_is_deterministic() -> None:
    current = GridPoint(1.0, 1.0, 2, 4)
    points = grid(current)
    assert current in points and points == grid(current)
    assert {p.k for p in points} == {3, 4, 5, 8}


def test_a_confident_gain_is_suggested_and_a_tie_is_not() -> None:
    # Gold sits third in document A; cap 2 hides it, cap 3 shows it, on every query.
    ranking = Ranking(lexical=("a1", "a2", "a3", "b1"), vector=("a1", "a2", "a3", "c1"))
    queries = [GoldQuery(f"q{i}", ranking, frozenset({"a3"})) for i in range(20)]
    current = GridPoint(1.0, 1.0, 2, 3)
    assert hits(queries, DOC_OF, current, 60) == [0.0] * 20
    result = search_grid(queries, DOC_OF, current, 60)
    assert result["current"]["hit_rate"] == 0.0
    assert result["best_at_current_k"]["per_doc_cap"] == 3
    assert result["suggestions"][0].startswith("set ") and "per_doc_cap=3" in \
        result["suggestions"][0]
    easy = [GoldQuery(f"q{i}", ranking, frozenset({"a1"})) for i in range(20)]
    assert search_grid(easy, DOC_OF, current, 60)["suggestions"][0].startswith("keep")


def test_gold_chunks_need_a_span_in_a_gold_document() -> None:
    item = EvalItem("q", "Q", "A", gold_doc_ids=("pydocs/a.md",), gold_spans=("the span",))
    doc_of = {"x": "data/pydocs/a.md", "y": "data/pydocs/b.md", "z": "data/pydocs/a.md"}
    texts = {"x": "has the span here", "y": "also the span", "z": "nothing"}
    assert gold_chunks(item, ["x", "y", "z"], texts, doc_of) == frozenset({"x"})


def test_nudges_never_search_the_reported_split_and_need_the_index() -> None:
    items = [EvalItem("q", "Q", "A", corpus="c", split="dev", gold_spans=("s",))]
    assert "never" in dev_nudges(items, "dev", "remote", {}, 5)["skipped"]
    assert "remote" in dev_nudges(items, "test", "remote", {}, 5)["skipped"]
