"""Toxicity: alt-profanity-check's shipped model, evaluated without scikit-learn's overhead.

The wheel ships a TF-IDF vectorizer and a 5-fold CalibratedClassifierCV over LinearSVC.
Through scikit-learn one call costs ~15 ms whatever the text length (input validation,
sparse bookkeeping); the same arithmetic in plain Python over the ~15k-term vocabulary costs
~0.1 ms per KB and gives the same probabilities (tests/unit/safety/test_toxicity.py checks
this against `profanity_check.predict_prob`).

Scoring is per sentence and the maximum wins: TF-IDF is L2-normalised, so one abusive
sentence inside a long benign text would otherwise be diluted below the threshold.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from warden.safety.policy import Category, Finding

DETECTOR = "toxicity.profanity_check"
_TOKEN = re.compile(r"\b\w\w+\b")  # the vectorizer's token_pattern, lowercased input
# Leading whitespace stays outside the span, so a redacted or quoted sentence starts clean.
_SENTENCE = re.compile(r"[^.!?\n\s][^.!?\n]*(?:[.!?]+|\n|$)")


@dataclass(frozen=True, slots=True)
class _Fold:
    slope: float  # sigmoid calibration: p = 1 / (1 + exp(slope * margin + offset))
    offset: float
    intercept: float


class ProfanityModel:
    """alt-profanity-check's vectorizer + calibrated linear SVMs as dictionaries."""

    def __init__(self) -> None:
        from importlib import resources

        import joblib

        data = resources.files("profanity_check") / "data"
        vectorizer = joblib.load(data / "vectorizer.joblib")
        model = joblib.load(data / "model.joblib")
        self.stop_words: frozenset[str] = frozenset(vectorizer.get_stop_words() or ())
        idf = vectorizer.idf_
        folds = model.calibrated_classifiers_
        self.folds = tuple(_Fold(float(c.calibrators[0].a_), float(c.calibrators[0].b_),
                                 float(c.estimator.intercept_[0])) for c in folds)
        coefs = [c.estimator.coef_[0] for c in folds]
        # term -> (idf, weight per fold): one lookup per token at scoring time.
        self.terms: dict[str, tuple[float, tuple[float, ...]]] = {
            term: (float(idf[i]), tuple(float(w[i]) for w in coefs))
            for term, i in vectorizer.vocabulary_.items()}

    def score(self, text: str) -> float:
        counts: dict[str, int] = {}
        for token in _TOKEN.findall(text.lower()):
            if token in self.terms and token not in self.stop_words:
                counts[token] = counts.get(token, 0) + 1
        n_folds = len(self.folds)
        margins = [0.0] * n_folds
        norm = 0.0
        for token, count in counts.items():
            idf, weights = self.terms[token]
            value = count * idf
            norm += value * value
            for k in range(n_folds):
                margins[k] += value * weights[k]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        total = 0.0
        for k, fold in enumerate(self.folds):
            margin = margins[k] * scale + fold.intercept
            total += 1.0 / (1.0 + math.exp(fold.slope * margin + fold.offset))
        return total / n_folds


_model: ProfanityModel | None = None
_model_lock = threading.Lock()


def get_profanity_model() -> ProfanityModel:
    global _model  # noqa: PLW0603  # one immutable model per process, built lazily
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = ProfanityModel()
    return _model


# The shipped model detects profanity, not abuse: "Stupid printer jammed again" scores 1.0
# and "Muslims are terrorists" 0.2. The "targeted" mode (default) therefore asks for a
# target before profanity counts, and adds the abuse that needs no swear word: threats,
# hate against a group, sexual harassment. benchmarks/safety.py reports both modes.
_TARGET = re.compile(r"\b(?:you|your|you're|youre|u|ur|yourself|ya|he|she|him|her|they|them|"
                     r"his|their|kids?|people|guy|girl|woman|women|men|man|boss|teacher|ex|"
                     r"neighbou?r|sister|brother|coworker|colleague|classmate|customer|friend|"
                     r"senator|kind)\b")
_META = re.compile(r"\b(?:word|term|phrase|slang|etymology|means?|meaning|offensive|spell(?:ed)?|"
                   r"called|calls|report|respond|reply|moderat\w*|filter|polite)\b")
_GROUPS = (r"(?:muslims?|jews?|christians?|arabs?|blacks?|black\s+people|whites?|asians?|"
           r"chinese|indians?|mexicans?|immigrants?|refugees?|gays?|lesbians?|trans(?:\s+people)?|"
           r"women|men|girls|boys|old\s+people|disabled\s+people|gypsies|roma|foreigners|"
           r"tourists|rednecks|liberals|conservatives|fat\s+people|your\s+kind)")
_ABUSE = tuple(re.compile(p) for p in (
    # threats of violence or sexual violence against the reader or a person
    r"\b(?:i(?:'ll|\s+will|'m\s+going\s+to|\s+am\s+going\s+to)|gonna)\s+(?:\w+\s+){0,5}?"
    r"(?:kill|stab|shoot|rape|beat|hurt|burn|cut|slap|punch|smash|destroy|hunt|strangle|"
    r"leak)\b[^.!?]{0,40}\b(?:you|your|him|her|them|his|their)\b(?!\s+(?:at|in)\s)",
    r"\bbreak\s+(?:your|his|her|their)\s+(?:legs?|neck|face|arms?|jaw|bones|skull|nose)\b",
    r"\bmake\s+(?:you|your\s+life|him|her|them)\s+(?:\w+\s+)?(?:regret|suffer|pay|"
    r"a\s+living\s+hell)",
    r"\b(?:i\s+)?(?:hope|wish)\b[^.!?]{0,25}\b(?:you|your|he|she|they)\b[^.!?]{0,40}\b(?:die|"
    r"dies|dead|cancer|suffer|beat|punch|crash)",
    r"\b(?:kill\s+yourself|go\s+die|die\s+in\s+a|drop\s+dead\s+you|should\s+be\s+(?:shot|hanged|"
    r"beaten|put\s+down|spat\s+on|smacked|drowned))\b",
    r"\bi\s+know\s+where\s+(?:you|your)\b|\bdeserve[sd]?\s+to\s+(?:be\s+raped|die|suffer|"
    r"drown|be\s+treated\s+like)",
    # generalisations that dehumanise a group
    rf"\b{_GROUPS}\s+(?:are|is)\s+(?:all\s+|just\s+|so\s+|too\s+)?(?:\w+\s+){{0,2}}?"
    r"(?:terrorists|criminals|rapists|inferior|savages|animals|trash|disgusting|dirty|lazy|"
    r"thieves|vermin|parasites|pigs|freaks|mentally\s+ill|a\s+plague|a\s+burden|leeches|"
    r"useless|brainwashed|violent|dumb|stupid|idiots|attention\s+whores|subhuman)",
    rf"\b{_GROUPS}\b[^.!?]{{0,40}}\b(?:should\s+(?:be|all|just)|must\s+be|need\s+to\s+be)\s+"
    r"(?:\w+\s+){0,2}?(?:kicked\s+out|locked\s+up|deported|shot|gotten\s+rid|exterminated|"
    r"banned|mocked|die|drown)",
    rf"\bwhy\s+{_GROUPS}\s+are\s+(?:\w+\s+)?(?:violent|savages|inferior|criminals)|"
    r"\b(?:dog-eating|inbred|subhuman)\b|\bgo\s+back\s+to\s+(?:your|where|the\s+jungle)",
    # sexual harassment
    r"\b(?:send\s+(?:me\s+)?nudes|your\s+nudes|clothes\s+off|hey\s+sexy)\b",
))


_ABUSE_ANY = re.compile("|".join(f"(?:{p.pattern})" for p in _ABUSE))


def abuse_hit(sentence: str) -> bool:
    return bool(_ABUSE_ANY.search(sentence.lower().replace("’", "'")))


class ToxicityDetector:
    """Flags abusive sentences.

    mode="targeted" (default): profanity only counts when it has a target and is not talk
    *about* a word, and threats, group hate and sexual harassment count without profanity.
    mode="baseline": alt-profanity-check alone, as shipped.
    """

    name = DETECTOR
    category: Category = "toxicity"
    cost = 2
    needs_ner = False

    def __init__(self, threshold: float = 0.5, model: Any = None,
                 mode: str = "targeted") -> None:
        if mode not in ("targeted", "baseline"):
            raise ValueError(f"toxicity mode must be 'targeted' or 'baseline', not {mode!r}")
        self.threshold = threshold
        self.mode = mode
        self._model: ProfanityModel | None = model  # tests may pass a stand-in

    def load(self) -> None:
        _ = self.model

    @property
    def model(self) -> ProfanityModel:
        if self._model is None:
            self._model = get_profanity_model()
        return self._model

    def scan(self, text: str) -> list[Finding]:
        findings: list[Finding] = []
        for m in _SENTENCE.finditer(text):
            sentence = m.group()
            if not sentence.strip():
                continue
            p = self.model.score(sentence)
            if self.mode == "baseline":
                if p >= self.threshold:
                    findings.append(Finding("toxicity", m.start(), m.end(), round(p, 4),
                                            DETECTOR, "PROFANITY"))
                continue
            lowered = sentence.lower()
            if abuse_hit(sentence):
                findings.append(Finding("toxicity", m.start(), m.end(), max(0.9, round(p, 4)),
                                        "toxicity.patterns", "ABUSE"))
            elif (p >= self.threshold and _TARGET.search(lowered)
                  and not _META.search(lowered)):
                findings.append(Finding("toxicity", m.start(), m.end(), round(p, 4),
                                        DETECTOR, "TARGETED_PROFANITY"))
        return findings
