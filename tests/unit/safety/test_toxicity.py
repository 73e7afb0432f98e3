from __future__ import annotations

import pytest
from profanity_check import predict_prob
from safety_data import labelled, rates

from warden.safety.detectors.toxicity import ToxicityDetector, get_profanity_model

SAMPLES = [
    "you are an idiot", "hello world", "kill the process", "", "!!!",
    "Holy shit, it finally works! Thank you so much.", "The cocktail recipe calls for rum.",
    "Shut up, you stupid bitch. " * 3, "numbers 123 456 and symbols #$%",
]


def test_fast_model_matches_the_shipped_one() -> None:
    model = get_profanity_model()
    for text, expected in zip(SAMPLES, predict_prob(SAMPLES), strict=True):
        assert model.score(text) == pytest.approx(float(expected), abs=1e-9)


@pytest.mark.parametrize("text", [
    "You are a worthless idiot and everyone hates you.",
    "I will find where you live and hurt you.",
    "Immigrants are all criminals.",
    "Send me nudes or else.",
])
def test_abuse_is_flagged(text: str) -> None:
    assert ToxicityDetector().scan(text)


@pytest.mark.parametrize("text", [
    "Holy shit, it finally works!",
    "Stupid printer jammed again.",
    "What's the etymology of the word 'idiot'?",
    "Kill the child process before restarting the parent.",
    "Dick Van Dyke was brilliant in Mary Poppins.",
])
def test_untargeted_profanity_and_lookalikes_pass(text: str) -> None:
    assert ToxicityDetector().scan(text) == []


def test_baseline_mode_is_the_plain_model() -> None:
    baseline = ToxicityDetector(mode="baseline")
    assert baseline.scan("Stupid printer jammed again.")  # profane, so flagged
    assert baseline.scan("Immigrants are all criminals.") == []  # no swear word
    with pytest.raises(ValueError):
        ToxicityDetector(mode="strict")


def test_one_bad_sentence_is_not_diluted_by_a_long_text() -> None:
    text = "Here is a long and friendly paragraph about gardening. " * 20 + "Fuck you, idiot."
    (finding,) = ToxicityDetector().scan(text)
    assert text[finding.start:finding.end] == "Fuck you, idiot."


def test_targeted_mode_beats_the_baseline_on_the_held_out_split() -> None:
    rows = labelled("toxicity", "test")
    labels = [r["label"] for r in rows]

    def f1(detector: ToxicityDetector) -> float:
        flags = [bool(detector.scan(r["text"])) for r in rows]
        tp = sum(f and y for f, y in zip(flags, labels, strict=True))
        recall, _ = rates(flags, labels)
        precision = tp / max(1, sum(flags))
        return 2 * precision * recall / (precision + recall)

    assert f1(ToxicityDetector()) > f1(ToxicityDetector(mode="baseline"))


def test_a_window_of_one_or_two_words_needs_more_evidence() -> None:
    from warden.safety.classifier.detector import SHORT_PROBABILITY, evidence_threshold

    assert evidence_threshold("Here's", 0.5) > 1  # one word: never judged
    assert evidence_threshold("\n\nOK", 0.5) > 1
    assert evidence_threshold("Here's a", 0.5) == SHORT_PROBABILITY
    assert evidence_threshold("fuck you", 0.99) == 0.99  # the head's own, when higher
    assert evidence_threshold("To make git ignore", 0.5) == 0.5


@pytest.mark.parametrize("text", ["Here's", "\n\nHere's a", "To make", "Sure", "OK", "You"])
def test_stream_openers_pass_the_output_guard(text: str) -> None:
    # The output guard checks a stream line by line; these opened answers and were blocked.
    from warden.safety.pipeline import GuardPipeline

    assert GuardPipeline().check_output(text).action == "allow"


@pytest.mark.parametrize("text", ["fuck you", "kill yourself", "you idiot"])
def test_two_word_abuse_is_still_blocked(text: str) -> None:
    from warden.safety.pipeline import GuardPipeline

    assert GuardPipeline().check_input(text).verdict.action == "block"
