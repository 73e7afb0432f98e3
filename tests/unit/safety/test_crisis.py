from __future__ import annotations

import pytest
from safety_data import labelled, rates

from warden.config.crisis import CrisisResponse
from warden.safety.detectors.crisis import CrisisDetector


@pytest.fixture(scope="module")
def detector() -> CrisisDetector:
    return CrisisDetector()


@pytest.mark.parametrize("text", [
    "I want to kill myself.",
    "i just want to die, i cant do this anymore",
    "I've decided to end my life this weekend.",
    "I'm going to take all my pills tonight so I never wake up.",
    "Everyone would be better off if I was gone.",
    "im gonna jump off the bridge tonight",
    "I don't want to be alive anymore.",
    "I'm so tired. I have the pills lined up and I'm ready.",
])
def test_statements_of_intent_are_caught(detector: CrisisDetector, text: str) -> None:
    findings = detector.scan(text)
    assert findings and all(f.category == "crisis" for f in findings)


@pytest.mark.parametrize("text", [
    "this killed me",
    "Kill the process with kill -9 if it hangs.",
    "I'm dying to see it!",
    "Suicide Squad review: fun cast, messy plot.",
    "I would never kill myself, but the exam week is rough.",
    "Police said the singer died by suicide in his hotel room.",
    "Write a story in which the detective investigates a suicide.",
    "What is the lethal dose of caffeine for an adult?",
    "I used to self-harm as a teenager; I've been clean for years.",
    "I want to die my hair purple.",
    "How do I end my life insurance policy?",
])
def test_hard_negatives_pass(detector: CrisisDetector, text: str) -> None:
    assert detector.scan(text) == []


def test_span_points_at_the_sentence(detector: CrisisDetector) -> None:
    text = "Thanks for the recipe. I want to end my life. Anyway."
    (finding,) = detector.scan(text)
    assert text[finding.start:finding.end].strip() == "I want to end my life."


def test_labelled_set_held_out_split_meets_the_targets(detector: CrisisDetector) -> None:
    rows = labelled("crisis", "test")
    recall, fpr = rates([bool(detector.scan(r["text"])) for r in rows],
                        [r["label"] for r in rows])
    assert recall >= 0.95
    assert fpr <= 0.05


def test_crisis_response_locales() -> None:
    response = CrisisResponse()
    us = response.render("en-US")
    assert "988" in us
    message, resources = response.for_locale("de-DE")  # unknown: language, default, then "*"
    assert message and resources
    assert any("findahelpline" in r.contact for r in response.for_locale("pt-BR")[1])
    custom = CrisisResponse.model_validate({
        "default_locale": "de",
        "messages": {"de": "Du bist nicht allein."},
        "resources": {"de": [{"name": "TelefonSeelsorge", "contact": "0800 111 0 111"}]},
    })
    assert custom.render("de-AT").startswith("Du bist nicht allein.")
    assert "0800 111 0 111" in custom.render(None)
