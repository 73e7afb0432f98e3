"""The shipped heads for the built-in categories (`warden/safety/models/<name>.{npz,json}`),
trained by `scripts/train_guard.py` (`make guard-models`) and loaded once per process."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from warden.safety.classifier.detector import ClassifierDetector
from warden.safety.classifier.head import Head
from warden.safety.classifier.windows import windows
from warden.safety.policy import Finding

MODELS_PACKAGE = "warden.safety.models"
BUILTIN_HEADS = ("crisis", "toxicity", "injection")
LABELS = {"crisis": "SELF_HARM_INTENT", "toxicity": "ABUSE", "injection": "PROMPT_INJECTION"}


@cache
def builtin_head(name: str) -> Head:
    if name not in BUILTIN_HEADS:
        raise ValueError(f"no shipped model {name!r}; expected one of {BUILTIN_HEADS}")
    folder = resources.files(MODELS_PACKAGE)
    card = (folder / f"{name}.json").read_text(encoding="utf-8")
    with (folder / f"{name}.npz").open("rb") as weights:
        return Head.load(card, weights)


# Injection is scored per sentence (a planted instruction in a document is one sentence
# among benign ones); crisis and abuse are read over a few sentences together.
WINDOW_CHARS = {"crisis": 320, "toxicity": 320, "injection": 160}


def builtin_detector(name: str) -> ClassifierDetector:
    """The category's detector; its head is read on first use (or `load()`)."""
    return ClassifierDetector(name, lambda: builtin_head(name), label=LABELS[name],
                              max_chars=WINDOW_CHARS[name])


class PatternDetector:
    """Exact patterns that run beside a head (kept only where validation showed they raise
    recall within the same false-positive budget; the head's card records the decision)."""

    cost = 2
    needs_ner = False

    def __init__(self, category: str) -> None:
        self.category = category
        self.name = f"{category}.patterns"

    def scan(self, text: str) -> list[Finding]:
        if self.category == "crisis":
            from warden.safety.detectors.crisis import CrisisDetector

            return CrisisDetector(semantic=False).scan(text)
        if self.category == "injection":
            from warden.safety.detectors.injection_patterns import heuristic_findings

            return heuristic_findings(text)
        from warden.safety.detectors.toxicity import abuse_hit

        return [Finding("toxicity", w.start, w.end, 0.9, self.name, "ABUSE")
                for w in windows(text) if abuse_hit(text[w.start:w.end])]


def builtin_detectors() -> list[Any]:
    """Each shipped head's detector, and its patterns where its card kept them."""
    out: list[Any] = []
    for name in BUILTIN_HEADS:
        out.append(builtin_detector(name))
        if builtin_head(name).card.get("rules", {}).get("kept"):
            out.append(PatternDetector(name))
    return out
