"""Fusion, filters and the budgeted reader context: pure functions."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import pytest

from warden.retrieval.context import build_context, context_budget
from warden.retrieval.filters import matches, parse_filters
from warden.retrieval.fusion import cap_per_document, weighted_rrf


def test_weighted_rrf_combines_ranks_and_weights() -> None:
    fused = dict(weighted_rrf([(1.0, ["a", "b", "c"]), (2.0, ["c", "a"])], rrf_k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 2 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 2 / 61)
    assert [k for k, _ in weighted_rrf([(1.0, ["a", "b", "c"]), (2.0, ["c", "a"])])] == \
        ["c", "a", "b"]
    assert weighted_rrf([(0.0, ["x"]), (1.0, ["y"])]) == [("y", 1 / 61)]


def test_rrf_ties_are_deterministic() -> None:
    assert [k for k, _ in weighted_rrf([(1.0, ["a", "b"]), (1.0, ["b", "a"])])] == ["a", "b"]


def test_cap_per_document_keeps_order() -> None:
    items = [("d1", 1), ("d1", 2), ("d2", 3), ("d1", 4), ("d2", 5), ("d3", 6)]
    kept = cap_per_document(items, lambda item: item[0], cap=1)
    assert kept == [("d1", 1), ("d2", 3), ("d3", 6)]
    assert cap_per_document(items, lambda item: item[0], cap=2, limit=3) == items[:3]


def test_filters() -> None:
    meta = {"lang": "en", "tags": ["a", "b"], "year": 2024}
    assert matches({"lang": "en"}, source="s", doc_id="d", meta=meta)
    assert matches({"lang": ["de", "en"], "tags": "b"}, source="s", doc_id="d", meta=meta)
    assert not matches({"lang": "de"}, source="s", doc_id="d", meta=meta)
    assert not matches({"missing": 1}, source="s", doc_id="d", meta=meta)
    assert matches({"source": "s", "doc_id": "d", "year": 2024}, source="s", doc_id="d",
                   meta=meta)
    assert parse_filters(["lang=en", "year=2024", "lang=de"]) == {"lang": ["en", "de"],
                                                                  "year": 2024}
    with pytest.raises(ValueError, match="key=value"):
        parse_filters(["oops"])


@dataclass(frozen=True)
class FakeHit:
    chunk_id: str
    doc_id: str
    source: str
    version: int
    score: float
    text: str


def words(text: str) -> int:
    return len(text.split())


def bpe_like(text: str) -> int:
    """Not additive: a run of punctuation costs one token, long words cost two."""
    return sum(2 if len(w) > 7 else 1 for w in re.findall(r"\w+|[^\w\s]+", text))


def _hits(rng: random.Random, n: int) -> list[FakeHit]:
    vocab = ["kettle", "descale", "vinegar", "limescale", "returns", "receipt", "a", "the",
             "extraordinarily", "…", "!!", "x"]
    return [FakeHit(f"{i:064x}", f"doc{i % 4}", f"src/{i % 4}.md", 3, rng.random(),
                    " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 80))))
            for i in range(n)]


@pytest.mark.parametrize("count", [words, bpe_like, len])
def test_context_never_exceeds_the_budget(count) -> None:
    rng = random.Random(11)
    for _ in range(300):
        hits = _hits(rng, rng.randint(0, 12))
        budget = rng.randint(0, 400)
        context = build_context(hits, budget, count, truncate_last=rng.random() < 0.7)
        assert count(context.text) <= budget
        assert context.tokens == (count(context.text) if context.text else 0)
        assert len(context.citations) + len(context.dropped) == len(
            {h.chunk_id for h in hits})


def test_context_orders_by_score_cites_and_dedups() -> None:
    hits = [FakeHit("a" * 64, "d1", "kettle.md", 2, 0.2, "Descale monthly."),
            FakeHit("b" * 64, "d2", "tea.txt", 2, 0.9, "Brew at 80 degrees."),
            FakeHit("c" * 64, "d3", "copy.txt", 2, 0.5, "Brew at 80 degrees."),
            FakeHit("b" * 64, "d2", "tea.txt", 2, 0.9, "Brew at 80 degrees.")]
    context = build_context(hits, 1000, words)
    assert [c.source for c in context.citations] == ["tea.txt", "kettle.md"]
    assert context.text.startswith("[1] tea.txt (chunk bbbbbbbbbbbb, v2)\nBrew at 80 degrees.")
    assert "[2] kettle.md" in context.text
    assert context.citations[0].chunk_id == "b" * 64 and context.citations[0].version == 2


def test_last_chunk_is_truncated_to_fit_or_dropped() -> None:
    long_text = " ".join(f"w{i}" for i in range(100))
    hits = [FakeHit("a" * 64, "d1", "s1", 1, 0.9, "short first chunk"),
            FakeHit("b" * 64, "d2", "s2", 1, 0.8, long_text)]
    cut = build_context(hits, 30, words)
    assert cut.citations[-1].truncated and cut.text.endswith(" …")
    assert words(cut.text) <= 30
    dropped = build_context(hits, 30, words, truncate_last=False)
    assert len(dropped.citations) == 1 and dropped.dropped == ["b" * 64]
    assert build_context(hits, 0, words).text == ""


def test_budget_respects_the_model_window() -> None:
    assert context_budget(n_ctx=2048, prompt_tokens=100, max_tokens=256, configured=1024) \
        == 1024
    assert context_budget(n_ctx=2048, prompt_tokens=1500, max_tokens=256, configured=1024) \
        == 292
    assert context_budget(n_ctx=512, prompt_tokens=500, max_tokens=256, configured=1024) == 0
