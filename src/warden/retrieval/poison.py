"""Retrieval-poisoning defence: chunks that carry instructions are quarantined at ingest.

A detector is any callable `is_poisoned(text) -> bool`. The built-in one is a small set of
patterns for the common shapes (override requests, role hijacks, chat-template markers,
prompt exfiltration). A richer detector plugs in by dotted path in
`retrieval.poison.detectors`, e.g. "warden.safety.detectors.injection:is_poisoned".
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

IsPoisoned = Callable[[str], bool]

_OVERRIDE_VERB = r"(?:ignore|disregard|forget|override|bypass|skip|drop)"
_PRIOR = r"(?:all\s+|any\s+|the\s+|your\s+|these\s+|those\s+)*(?:previous|prior|above|" \
         r"earlier|preceding|original|system|initial|existing)"
_RULES = r"(?:instructions?|prompts?|directions?|rules|guidelines|context|messages?|orders)"

_PATTERNS: dict[str, re.Pattern[str]] = {
    "override": re.compile(rf"\b{_OVERRIDE_VERB}\s+{_PRIOR}\s+{_RULES}\b", re.I),
    "override_all": re.compile(rf"\b{_OVERRIDE_VERB}\s+(?:everything|all)\s+(?:you\s+were|"
                               rf"(?:that\s+)?(?:was\s+)?(?:said|told))", re.I),
    "new_instructions": re.compile(r"(?:^|\n)\s*(?:new|updated|real)\s+(?:system\s+)?"
                                   r"instructions?\s*:", re.I),
    # A line that speaks as the system or assistant and gives an order (not "system: linux").
    "role_line": re.compile(r"(?:^|\n)\s*(?:system|assistant|developer)\s*:\s*(?:you\b|"
                            r"ignore|disregard|from\s+now|always|never|do\s+not|reply|"
                            r"respond|answer)", re.I),
    "chat_template": re.compile(r"<\|(?:im_start|im_end|system|assistant|user|"
                                r"begin_of_text|start_header_id)\|>|\[/?INST\]|<</?SYS>>",
                                re.I),
    "role_hijack": re.compile(r"\byou\s+are\s+(?:now|no\s+longer)\b|\bfrom\s+now\s+on\s*,?\s+"
                              r"you\s+(?:are|will|must)\b|\bact\s+as\s+(?:an?\s+)?"
                              r"(?:unrestricted|unfiltered|jailbroken|DAN)\b|"
                              r"\bdeveloper\s+mode\b", re.I),
    "exfiltration": re.compile(r"\b(?:reveal|print|repeat|output|show)\s+(?:me\s+)?(?:your|"
                               r"the)\s+(?:system\s+prompt|hidden\s+instructions|"
                               r"initial\s+instructions)\b", re.I),
    "addressed_to_model": re.compile(r"\b(?:AI|assistant|language\s+model|LLM|chatbot)\s*[,:]"
                                     r"\s*(?:you\s+must|ignore|do\s+not\s+follow)", re.I),
}


def builtin_reason(text: str) -> str | None:
    """The name of the first pattern that matches, or None."""
    for name, pattern in _PATTERNS.items():
        if pattern.search(text):
            return name
    return None


def builtin_is_poisoned(text: str) -> bool:
    return builtin_reason(text) is not None


@dataclass(frozen=True)
class Verdict:
    poisoned: bool
    reason: str | None = None


class PoisonScreen:
    """Runs every configured detector; the first that fires names the reason."""

    def __init__(self, detectors: Sequence[tuple[str, IsPoisoned]]) -> None:
        self.detectors = list(detectors)

    def check(self, text: str) -> Verdict:
        for name, detector in self.detectors:
            if name == "builtin":
                reason = builtin_reason(text)
                if reason:
                    return Verdict(True, f"builtin:{reason}")
            elif detector(text):
                return Verdict(True, name)
        return Verdict(False)


def load_detector(spec: str) -> IsPoisoned:
    """'builtin' or 'package.module:callable'."""
    if spec == "builtin":
        return builtin_is_poisoned
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"poison detector '{spec}' must look like 'package.module:callable'")
    try:
        detector = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"poison detector '{spec}' cannot be loaded: {exc}") from exc
    if not callable(detector):
        raise ValueError(f"poison detector '{spec}' is not callable")
    loaded: IsPoisoned = detector  # callable; taking a str and answering a bool is its contract
    return loaded


def screen_from_specs(specs: Sequence[str]) -> PoisonScreen:
    return PoisonScreen([(spec, load_detector(spec)) for spec in specs])
