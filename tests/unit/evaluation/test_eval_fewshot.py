"""Few-shot selection: deterministic KNN with id tie-breaks, and the leakage guard."""

from __future__ import annotations

import random

import numpy as np
import pytest

from warden.evaluation.fewshot import (
    ExclusionReason,
    FewShotSelector,
    TextItem,
    knn_select,
    leakage_guard,
    normalize_text,
)


class FakeEmbedder:
    """Looks texts up in a table of 2-d vectors; records every call."""

    def __init__(self, table: dict[str, tuple[float, float]]) -> None:
        self.table = table
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def _angle(degrees: float) -> tuple[float, float]:
    radians = np.deg2rad(degrees)
    return float(np.cos(radians)), float(np.sin(radians))


TABLE = {
    "query": _angle(0),
    "p-near": _angle(10),
    "p-mid-b": _angle(40),
    "p-mid-a": _angle(40),  # same vector as p-mid-b: a tie
    "p-far": _angle(90),
    "p-opposite": _angle(180),
}
POOL = [TextItem("b-mid", "p-mid-b"), TextItem("z-near", "p-near"),
        TextItem("a-mid", "p-mid-a"), TextItem("far", "p-far"),
        TextItem("opp", "p-opposite")]


def test_knn_orders_by_cosine_and_breaks_ties_by_id() -> None:
    selector = FewShotSelector(POOL, [], FakeEmbedder(TABLE))
    assert selector.select("query", 3) == ("z-near", "a-mid", "b-mid")
    assert selector.select("query", 2) == ("z-near", "a-mid")  # the tie cut goes to a-mid
    assert selector.select("query", 99) == ("z-near", "a-mid", "b-mid", "far", "opp")
    assert selector.select("query", 0) == ()


def test_same_pool_and_query_give_the_same_ids_whatever_the_pool_order() -> None:
    expected = FewShotSelector(POOL, [], FakeEmbedder(TABLE)).select("query", 4)
    rng = random.Random(3)
    for _ in range(10):
        shuffled = POOL[:]
        rng.shuffle(shuffled)
        assert FewShotSelector(shuffled, [], FakeEmbedder(TABLE)).select("query", 4) == expected


def test_float_noise_does_not_break_a_tie() -> None:
    vectors = np.array([[1.0, 1e-12], [1.0, 0.0], [0.0, 1.0]])
    # "b" is a hair more similar in float arithmetic; rounded to 1e-6 it ties with "a"
    assert knn_select([1.0, 0.0], ["b", "a", "c"], vectors, 1) == ("a",)


def test_knn_input_checks() -> None:
    with pytest.raises(ValueError, match="dim"):
        knn_select([1.0, 0.0, 0.0], ["a"], np.array([[1.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="rows for 2 ids"):
        knn_select([1.0, 0.0], ["a", "b"], np.array([[1.0, 0.0]]), 1)
    assert knn_select([1.0, 0.0], [], np.zeros((0, 2)), 3) == ()


def test_normalised_text() -> None:
    assert normalize_text("  What is the NILE?!\n") == normalize_text("what is the nile")
    assert normalize_text("Ｎｉｌｅ") == "nile"  # NFKC folds full-width letters


def test_leakage_guard_excludes_identical_and_near_identical_items() -> None:
    table = {
        "What is the longest river?": _angle(0),
        "what is the LONGEST river": _angle(70),  # same text after normalisation
        "Which river is the longest one?": _angle(2),  # cosine 0.9994 to the eval item
        "Name a river in Africa.": _angle(30),  # cosine 0.866: kept
        "How tall is Everest?": _angle(90),
    }
    pool = [TextItem("p1", "what is the LONGEST river"),
            TextItem("p2", "Which river is the longest one?"),
            TextItem("p3", "Name a river in Africa.")]
    eval_items = [TextItem("e2", "How tall is Everest?"),
                  TextItem("e1", "What is the longest river?")]
    embed = FakeEmbedder(table)
    selector = FewShotSelector(pool, eval_items, embed, max_cosine=0.95)
    assert selector.ids == ("p3",)
    report = selector.report
    assert report.n_excluded == 2 and report.pool_size == 3 and report.eval_size == 2
    p1, p2 = report.excluded
    assert (p1.pool_id, p1.eval_id, p1.reason) == ("p1", "e1", ExclusionReason.IDENTICAL_TEXT)
    assert (p2.pool_id, p2.eval_id, p2.reason) == ("p2", "e1",
                                                   ExclusionReason.NEAR_IDENTICAL_EMBEDDING)
    assert p2.cosine == pytest.approx(np.cos(np.deg2rad(2)), abs=1e-6)
    assert report.plain()["n_excluded"] == 2
    # an excluded item is never selected, even for the eval question itself
    assert selector.select("What is the longest river?", 5) == ("p3",)
    # the pool and the eval items are embedded once, up front, in id order
    assert embed.calls[:2] == [[item.text for item in pool],
                               ["What is the longest river?", "How tall is Everest?"]]


def test_leakage_threshold_is_strictly_above() -> None:
    pool = [TextItem("p", "x")]
    eval_items = [TextItem("e", "y")]
    vectors = np.array([[1.0, 0.0]])
    kept, report = leakage_guard(pool, vectors, eval_items, vectors, max_cosine=1.0)
    assert kept == [0] and report.n_excluded == 0  # cosine 1.0 is not above 1.0
    kept, report = leakage_guard(pool, vectors, eval_items, vectors, max_cosine=0.999)
    assert kept == [] and report.n_excluded == 1


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        FewShotSelector([TextItem("a", "p-far"), TextItem("a", "p-near")], [],
                        FakeEmbedder(TABLE))
    with pytest.raises(ValueError, match="one row per text"):
        FewShotSelector(POOL, [], lambda texts: np.zeros((1, 2)))
    with pytest.raises(ValueError, match="finite"):
        FewShotSelector(POOL, [], lambda texts: np.full((len(texts), 2), np.nan))
