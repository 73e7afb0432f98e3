"""PII detection: the pattern pass (always) and Presidio person-name NER (per-tier option).

Presidio runs with only its spaCy recognizer for PERSON: every other entity it knows
(email, phone, card, IBAN, SSN, IP) is covered by `pii_patterns`, whose validators are
stricter, and its remaining regex recognizers (passport, driver licence, bank account...)
match any 9-digit number, which would cost more precision than they add recall.
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from typing import Any

from warden.safety.detectors.name_gazetteer import gazetteer
from warden.safety.detectors.pii_patterns import find_pii
from warden.safety.policy import Category, Finding
from warden.safety.redaction import mask

NER_DETECTOR = "pii.presidio"
GAZETTEER_DETECTOR = "pii.names"

# NER only has something to find in a sentence with a capitalised word other than the usual
# sentence openers; running spaCy only on those sentences (in one batch) skips most of its
# cost on ordinary prose, code, logs and numbers, and loses nothing a name would trigger.
# Leading whitespace stays outside the span, so a redacted or quoted sentence starts clean.
_SENTENCE = re.compile(r"[^.!?\n\s][^.!?\n]*(?:[.!?]+|\n|$)")
_CAPITALISED = re.compile(r"\b[A-Z][a-z'’-]+")
_OPENER_WORDS = """
A About After Also An And Any Are As At Be Because Before But By Can Could Did Do Does
Don't Each Even Every For From Generally Given Great Has Have He Hello Her Here Hey Hi His
How However I I'm I've If In Is It It's Its Just Let Let's Like Make Many May Maybe Me
More Most My No Not Note Now Of Ok Okay On Once One Only Or Our Please Same See She Should
Since So Some Sorry Such Thank Thanks That That's The Their Then There These They This
Those Though To Today Unless Use Using Was We We're Well Were What When Where Which While
Who Why Will With Would Yes Yet You You're Your Monday Tuesday Wednesday Thursday Friday
Saturday Sunday January February March April June July August September October November
December Python Linux Windows Docker
"""
_OPENERS = frozenset(_OPENER_WORDS.split())


def _may_hold_name(sentence: str) -> bool:
    return any(m.group() not in _OPENERS for m in _CAPITALISED.finditer(sentence))


class PiiPatternDetector:
    """Emails, phones, cards, IBANs, SSNs, IPs and secrets: regex + checksum, ~0.1 ms/KB."""

    name = "pii.patterns"
    category: Category = "pii"
    cost = 1
    needs_ner = False

    def scan(self, text: str) -> list[Finding]:
        return find_pii(text)


class PersonNameDetector:
    """Person names via Presidio's analyzer over an offline, NER-only spaCy pipeline."""

    name = NER_DETECTOR
    category: Category = "pii"
    cost = 50
    needs_ner = True

    def __init__(self, min_score: float = 0.5) -> None:
        self.min_score = min_score
        self._analyzer: Any = None
        self._lock = threading.RLock()

    def load(self) -> None:
        """Build the analyzer now (otherwise on first scan): takes a few seconds."""
        if self._analyzer is not None:
            return
        with self._lock:
            if self._analyzer is not None:
                return
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            from warden.safety.offline import build_nlp_engine

            registry = RecognizerRegistry(supported_languages=["en"])
            registry.add_recognizer(SpacyRecognizer(supported_language="en",
                                                    supported_entities=list(_NER_ENTITIES)))
            self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=build_nlp_engine(),
                                            supported_languages=["en"])

    def scan(self, text: str) -> list[Finding]:
        # One analyzer call over the candidate sentences joined, mapped back by segment:
        # Presidio's per-call overhead is larger than spaCy's per-sentence cost.
        segments: list[tuple[int, int]] = []  # (offset in joined, offset in text)
        parts: list[str] = []
        joined_len = 0
        for m in _SENTENCE.finditer(text):
            if _may_hold_name(m.group()):
                segments.append((joined_len, m.start()))
                parts.append(m.group())
                joined_len += len(m.group()) + 2
        if not parts:
            return []
        names = gazetteer()
        cued = [(start, end) for start, end in names.given_names(text)
                if _NAME_CUE.search(text[max(0, start - 30):start])]
        listed = [Finding("pii", start, end, 0.7, GAZETTEER_DETECTOR, "PERSON")
                  for start, end in [*names.spans(text, _OPENERS), *cued]
                  if not _public(text, start, end)]
        listed = [f for i, f in enumerate(listed)  # a cued given name inside a full name
                  if not any(g.start <= f.start and f.end <= g.end and g != f
                             for g in listed[:i])]
        self.load()
        joined = "\n\n".join(parts)
        findings: list[Finding] = []
        with self._lock:  # spaCy pipelines are not documented as thread-safe
            results = self._analyzer.analyze(joined, language="en",
                                             entities=list(_NER_ENTITIES))
        for r in results:
            seg_start, text_start = max(s for s in segments if s[0] <= r.start)
            value, trimmed = _trim_name(joined[r.start:r.end])
            start = text_start + r.start - seg_start + trimmed
            before = text[max(0, start - 30):start]
            if (r.score >= self.min_score and "\n\n" not in value
                    and _plausible_name(value, before)
                    and (r.entity_type == "PERSON" or _STRONG_CUE.search(before))):
                findings.append(Finding("pii", start, start + len(value), r.score,
                                        NER_DETECTOR, "PERSON"))
        return findings + [g for g in listed
                           if all(g.end <= f.start or g.start >= f.end for f in findings)]


# A lone capitalised word is a name only next to a cue; without one, spaCy-sm's single-token
# PERSONs are mostly cities, products and imperatives ("Convert 72 degrees...").
_NAME_CUE = re.compile(
    r"(?i)(?:\b(?:mr|mrs|ms|miss|dr|prof|sir|dear|hi|hey|hello|thanks|thank\s+you|cheers|"
    r"regards|sincerely|love|from|to|with|ask|tell|call|email|text|meet|met|named|called|"
    r"name\s+is|i'm|i\s+am|this\s+is|sister|brother|mom|mum|dad|wife|husband|son|daughter|"
    r"friend|boss|manager|colleague|coworker|neighbou?r|partner|uncle|aunt|cousin|"
    r"grandma|grandpa|patient|client|customer|tenant|intern)\b\.?,?\s*$)")


_NER_ENTITIES = ("PERSON", "ORGANIZATION", "LOCATION")
# Cues strong enough to read an ORG/GPE span as a person ("my sister Rebecca").
_STRONG_CUE = re.compile(
    r"(?i)\b(?:mr|mrs|ms|miss|dr|prof|dear|hi|hey|hello|thanks|thank\s+you|cheers|named|"
    r"called|name\s+is|name\s+of|i'm|i\s+am|this\s+is|sister|brother|mom|mum|dad|wife|"
    r"husband|son|daughter|friend|boss|manager|colleague|coworker|neighbou?r|partner|"
    r"uncle|aunt|cousin|patient|client|tenant|intern)\b\.?,?\s*$")


# Brands, products and software that spaCy-sm reads as people ("John Deere", "Istio"), and
# public figures and fictional people whose names identify no private person
# (data/public_names.txt). A span counts as one of these
# when its words, or the words it starts with, match an entry.
_NOT_PRIVATE = frozenset("""
john deere|jack daniel's|jack daniels|ben & jerry's|ben and jerry's|tommy hilfiger|
ralph lauren|calvin klein|hugo boss|louis vuitton|tim hortons|wells fargo|dr pepper|
dr. pepper|morgan stanley|goldman sachs|charles schwab|johnson & johnson|procter & gamble|
harley davidson|harley-davidson|rolls royce|rolls-royce|mercedes benz|mercedes-benz|
ted baker|kate spade|michael kors|tom ford|paul smith|estée lauder|estee lauder|mary kay|
jimmy choo|marc jacobs|giorgio armani|yves saint laurent|christian dior|coco chanel|
levi strauss|levi's|sherwin williams|sherwin-williams|dr. martens|dr martens|
ronald mcdonald|martha stewart|betty crocker|uncle ben's|aunt jemima|sara lee|
little debbie|ben sherman|fred perry|stella mccartney|vera wang|anne klein|
ray ban|ray-ban|dolce & gabbana|dolce gabbana|black & decker|marks & spencer|
john lewis|ben & jerry|tesla|siri|cortana|istio|ansible|kafka|django|hadoop|kubernetes|
grafana|kibana|jupyter|gatsby|jekyll|
albert einstein|einstein|isaac newton|marie curie|charles darwin|nikola tesla|
william shakespeare|shakespeare|leonardo da vinci|abraham lincoln|george washington|
barack obama|donald trump|joe biden|elon musk|bill gates|steve jobs|jeff bezos|
mark zuckerberg|taylor swift|napoleon|napoleon bonaparte|queen elizabeth|
mahatma gandhi|martin luther king|nelson mandela|winston churchill|jane austen|
elizabeth bennet|sherlock holmes|harry potter|jane doe|john doe
""".replace("\n", "").split("|"))
# Public and fictional people: the whole span must be the name (possessive aside), so that
# "Victor Hugo Almeida" is still a private person.
_PUBLIC_NAMES = frozenset(
    line.strip().lower() for line in resources.files("warden.safety").joinpath(
        "data/public_names.txt").read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#"))


_WORDS_BEFORE = re.compile(r"(?:[A-Z][\w'’.-]*\s+){1,2}$")


def _public(text: str, start: int, end: int) -> bool:
    """`text[start:end]` is a public name, alone or as the end of one ("Friedrich Gauss" in
    "Carl Friedrich Gauss")."""
    if _not_private(text[start:end]):
        return True
    before = _WORDS_BEFORE.search(text[max(0, start - 40):start])
    if before is None:
        return False
    words = before.group().split()
    return any(_not_private(" ".join(words[i:]) + " " + text[start:end])
               for i in range(len(words)))


def _not_private(value: str) -> bool:
    words = " ".join(value.lower().replace("’", "'").split())
    return (words in _NOT_PRIVATE or words.removesuffix("'s") in _PUBLIC_NAMES
            or any(words.startswith(name + " ") for name in _NOT_PRIVATE if " " in name))


_TITLE = re.compile(r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir)\.?\s+)+")


def _trim_name(span: str) -> tuple[str, int]:
    """The name inside an NER span and its offset in it: a leading title goes ("Mrs Patel"
    is "Patel"), and so do trailing lowercase words spaCy ran on into ("Marek Zieliński
    zadzwoni jutro")."""
    title = _TITLE.match(span)
    offset = title.end() if title else 0
    words = list(re.finditer(r"\S+", span[offset:]))
    while len(words) > 1 and not words[-1].group()[0].isupper():
        words.pop()
    end = offset + words[-1].end() if words else offset
    return span[offset:end], offset


def _plausible_name(value: str, before: str) -> bool:
    """spaCy-sm tags code identifiers, acronyms, places and brands as PERSON; filter the
    usual suspects (a name has a capital, no all-caps word, no code punctuation, and is not
    a brand or a public figure)."""
    stripped = value.strip(" '’\"")
    if _not_private(stripped):
        return False
    words = stripped.split()
    if (len(stripped) < 2 or not stripped[0].isupper()
            or any(w.isupper() and len(w) > 1 for w in words)
            or any(c in stripped for c in "_=(){}[]<>/\\@#$%")):
        return False
    if _NAME_CUE.search(before[-30:]):
        return True
    # Without a cue, a multi-word span needs a known given name or surname in it.
    return len(words) > 1 and gazetteer().backs(stripped)


class PiiDetector:
    """Both stages, for callers that want one object; the pipeline uses the two separately."""

    name = "pii"
    category: Category = "pii"

    def __init__(self, ner: bool = True) -> None:
        self.patterns = PiiPatternDetector()
        self.names = PersonNameDetector() if ner else None

    def scan(self, text: str) -> list[Finding]:
        found = self.patterns.scan(text)
        if self.names is not None:
            found += [f for f in self.names.scan(mask(text, found))
                      if all(f.end <= p.start or f.start >= p.end for p in found)]
        return found
