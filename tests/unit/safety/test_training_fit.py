"""Pure training logic: the pieces a detector scores, how they enter training and
validation, thresholds, and the sentence-scoring choice recorded in a head's card."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from warden.safety.classifier.features import FeatureSpec
from warden.safety.classifier.windows import pieces, windows
from warden.safety.training.fit import (
    FitSettings,
    choose_pair,
    choose_threshold,
    fit_head,
    prepare,
)
from warden.safety.training.rows import Row, assign_groups, dedupe

SPEC = FeatureSpec(n_features=2 ** 12, embedding_dim=8)


def word_vectors(texts: Sequence[str]) -> np.ndarray:
    """A stand-in encoder (words hashed into 8 dimensions): these tests are about how
    rows become examples, not about meaning."""
    out = np.zeros((len(texts), 8), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            out[i, sum(map(ord, word)) % 8] += 1.0
        norm = np.linalg.norm(out[i])
        out[i] /= norm if norm else 1.0
    return out


def test_pieces_are_windows_then_their_sentences_of_three_words_or_more() -> None:
    text = "Hello there. I want to end my life. Ok."
    got = pieces(text, 320)
    assert got[0] == (0, text)
    assert [p for _, p in got[1:]] == ["I want to end my life."]
    assert pieces("One sentence with five words.", 320) == [(0, "One sentence with five words.")]
    long = "First sentence is here. " * 20
    assert {i for i, _ in pieces(long, 100)} == set(range(len(windows(long, 100))))


def test_sentence_pieces_are_scored_but_never_trained_on() -> None:
    rows = [Row(text="Dinner is at eight. The rope is ready for tonight.", label=1,
                origin="test"),
            Row(text="Dinner is at eight. Bring the red wine please.", label=0, origin="test")]
    plain = prepare(rows, SPEC, word_vectors, window_chars=320)
    assert plain.trained is not None and plain.trained.all() and not plain.sentences
    split = prepare(rows, SPEC, word_vectors, window_chars=320, sentences=True)
    assert split.sentences and split.trained is not None
    scored_only = [int(split.owner[i]) for i in np.where(~split.trained)[0]]
    assert sorted(set(scored_only)) == [0, 1]          # both rows gain scored pieces
    assert split.trained.sum() == plain.trained.sum()  # and no new training example


def test_threshold_keeps_validation_fpr_within_target() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0] * 200 + [1] * 50)
    p = np.concatenate([rng.uniform(0, 0.7, 200), rng.uniform(0.4, 1.0, 50)])
    t = choose_threshold(p, labels, 0.05)
    assert np.mean(p[labels == 0] >= t) <= 0.05
    assert choose_threshold(p, labels, 0.0) > p[labels == 0].max()


def test_windowed_fit_records_both_sentence_variants_and_keeps_the_better() -> None:
    positives = [f"Note {i}. I will end it all tonight with the pills number {i}." for i in
                 range(30)]
    negatives = [f"Note {i}. Please buy milk and bread on the way home {i}." for i in
                 range(40)] + [f"Reminder {i}: the pills for the dog are in drawer {i}." for i
                               in range(30)]
    rows = assign_groups(dedupe([Row(text=t, label=1, origin="test") for t in positives]
                                + [Row(text=t, label=0, origin="test") for t in negatives]))
    head = fit_head("demo", rows, SPEC, FitSettings(target_fpr=0.05, window_chars=320),
                    word_vectors)
    variants = head.card["sentence_variants"]
    assert set(variants) == {"false", "true"}
    assert head.card["sentences"] == (variants["true"] > variants["false"])
    assert head.card["direct_recall"] == max(variants.values())


def test_two_models_that_must_agree_keep_the_fpr_and_beat_either_alone() -> None:
    # Two noisy scores whose errors are independent: requiring both lets each threshold
    # drop, so recall at the same FPR beats either model alone.
    rng = np.random.default_rng(3)
    labels = np.array([0] * 400 + [1] * 200)
    signal = labels * 1.2
    a = 1 / (1 + np.exp(-(signal + rng.normal(0, 1, 600) - 0.6)))
    b = 1 / (1 + np.exp(-(signal + rng.normal(0, 1, 600) - 0.6)))
    none = np.zeros(600, dtype=bool)
    recall, t_a, t_b = choose_pair(a, b, labels, none, 0.05)
    hit = (a >= t_a) & (b >= t_b)
    assert np.mean(hit[labels == 0]) <= 0.05
    assert recall == np.mean(hit[labels == 1])
    for alone in (a, b):
        t = choose_threshold(alone, labels, 0.05)
        assert recall > np.mean(alone[labels == 1] >= t)
    ruled = labels == 1                       # a pattern that fires on every positive
    assert choose_pair(a, b, labels, ruled, 0.05)[0] == 1.0
