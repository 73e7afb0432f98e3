"""Prompt injection and jailbreaks: heuristics first, then similarity to known attacks.

Heuristics name the shapes attacks share: overriding earlier instructions, asking for the
system prompt, persona jailbreaks (DAN and kin), "developer/admin/god mode", chat-template
delimiters smuggled into user text, instructions planted in documents, and payloads hidden
in an encoding or behind character-level obfuscation (see `injection_patterns`). Each
carries a score; one strong hit blocks on its own. A sentence with only a weak cue (the
vocabulary of attacks without their shape: "instructions", "rules", "pretend") goes to the
embedding check against data/injection_corpus.txt, contrasted with its benign look-alikes
(`similarity.SimilarityCheck`, shared with the crisis detector).
"""

from __future__ import annotations

import re

from warden.safety.detectors.injection_patterns import (
    HEURISTIC_DETECTOR,
    heuristic_findings,
)
from warden.safety.detectors.similarity import PhraseIndex, SimilarityBacked, Window
from warden.safety.policy import Category, Finding

__all__ = ["HEURISTIC_DETECTOR", "SEMANTIC_DETECTOR", "InjectionDetector", "heuristic_findings"]

SEMANTIC_DETECTOR = "injection.semantic"
CORPUS = "injection_corpus.txt"

# Weak cues: worth an embedding check, not a verdict.
_CUES = re.compile(
    r"(?i)\b(?:instructions?|prompt|rules|guidelines|polic(?:y|ies)|restrictions?|filters?|"
    r"pretend|role-?play|act\s+as|in\s+character|persona|simulate|hypothetically|"
    r"fictional|imagine|no\s+disclaimers|without\s+(?:any\s+)?(?:warnings|disclaimers)|"
    r"secret|password|confidential|reveal|mode|override|bypass|jailbreak|sudo|admin|"
    r"authori[sz]ed?|clearance|ignore|disregard|forget|from\s+now\s+on|freed|obey|"
    r"free\s+(?:from|of)\s+(?:your|all|any|the)|now\s+free|"
    r"ethic\w*|moral\w*|censor\w*|creators?|developers?|openai|sure,\s+here)\b")
# Attacks address the model ("you", "act as"); a cue in a sentence about something else
# (x86 instructions, house rules) is topical, not an attack.
_ADDRESSED = re.compile(r"(?i)\b(?:you|your|yourself|ai|assistant|model|chatbot|llm|act\s+as|"
                        r"pretend|role-?play|simulate|imagine)\b")
# Leading whitespace stays outside the span, so a redacted or quoted sentence starts clean.
_SENTENCE = re.compile(r"[^.!?\n\s][^.!?\n]*(?:[.!?]+|\n|$)")


class InjectionDetector(SimilarityBacked):
    """Flags prompt injection / jailbreak attempts (heuristics, then cosine to the corpus)."""

    name = "injection"
    category: Category = "injection"
    cost = 3
    needs_ner = False

    # Chosen on tests/data/safety/dev/injection.jsonl plus the eval file's `dev` rows (never
    # its `test` rows): `benchmarks/safety.py --sweep` prints the grid. TPR is flat for
    # margins 0.09-0.11 at min_similarity <= 0.40 with no false positive; we take the middle
    # of that plateau rather than its loosest corner.
    def __init__(self, semantic: bool = True, margin: float = 0.10,
                 min_similarity: float = 0.40, index: PhraseIndex | None = None) -> None:
        super().__init__(CORPUS, semantic=semantic, margin=margin,
                         min_similarity=min_similarity, index=index)

    @staticmethod
    def windows(text: str) -> list[Window]:
        """Sentences worth an embedding check: a weak cue, addressed to the model."""
        return [Window(m.start(), m.end(), m.group().strip()) for m in _SENTENCE.finditer(text)
                if _CUES.search(m.group()) and _ADDRESSED.search(m.group())]

    def scan(self, text: str) -> list[Finding]:
        findings = heuristic_findings(text)
        if findings or not self.semantic:
            return findings
        return [Finding("injection", w.start, w.end, round(match.positive, 4),
                        SEMANTIC_DETECTOR, "SIMILAR_TO_KNOWN_ATTACK")
                for w, match in self.similarity.flag(self.windows(text))]
