"""Crisis / self-harm intent: first-person patterns, then an embedding check on the rest.

The patterns want a first-person statement ("I'm going to kill myself", "I want to die",
"I won't be here tomorrow"); the hard negatives they must leave alone are idioms ("this
killed me", "I'm dying to see it"), hyperbole ("I'd rather die than..."), technical use
("kill the process"), third-person news, fiction and clinical questions. Sentences that only
come close (first person plus a crisis word) go to the embedding check against
data/crisis_anchors.txt, which catches paraphrases the patterns do not list.
"""

from __future__ import annotations

import re

from warden.safety.detectors.similarity import PhraseIndex, SimilarityBacked, Window
from warden.safety.policy import Category, Finding

PATTERN_DETECTOR = "crisis.patterns"
SEMANTIC_DETECTOR = "crisis.semantic"
ANCHORS = "crisis_anchors.txt"

_SELF_HARM = r"(?:kill|killing|killed|hang|hanging|hung|shoot|shooting|poison|poisoning|drown|" \
             r"drowning|starve|starving|stab|stabbing|throw|throwing|set|burn|burning)\s+myself"
_METHOD = r"(?:slit|slitting|cut|cutting)\s+(?:my|your)\s+wrists?|bleed\s+out|tie\s+a\s+noose|" \
          r"overdos(?:e|ing)\b(?!\s+deaths)|swallow(?:ed)?\s+(?:every|all|\d+)\s+(?:of\s+)?" \
          r"(?:my\s+)?pills|took\s+(?:a\s+bunch\s+of|all)\s+(?:my\s+|the\s+)?pills"
_FIRST = r"\b(?:i|i'm|i'll|i've|i'd|me|my)\b"

_STRONG = [re.compile(p) for p in (
    rf"\b{_SELF_HARM}\b(?!\s+in\s+the\s+foot)",
    r"\b(?:end|ending|take|taking)\s+my\s+(?:own\s+)?life\b(?!\s+(?:insurance|savings|policy))",
    r"\bi\b[^.!?]{0,40}\b(?:commit|committing)\s+suicide\b|\bmy\s+suicide\b|"
    r"\bsuicide\s+is\s+(?:my|the\s+only)\b",
    r"\b(?:want|wanna|going|ready|deserve|need|wish)\s+(?:to\s+)?(?:just\s+)?(?:to\s+)?die\b"
    r"(?!\s+(?:my|your|the|her|his)\s+hair|\s+of\b|\s+laughing)",
    r"\bi\s+wish\s+i\s+(?:was|were|had\s+never\s+been\s+born)\b(?:\s+dead)?",
    r"\b(?:want|going|ready)\s+to\s+be\s+dead\b|\bi'?ll\s+be\s+dead\b",
    r"\bbetter\s+off\s+(?:dead|without\s+me|if\s+i\s+(?:was|were)\s+(?:dead|gone))\b",
    r"\b(?:i'm|i\s+am|i\s+feel|i've\s+been|i\s+have\s+been)\s+(?:so\s+|really\s+|very\s+)?"
    r"suicidal\b",
    r"\b(?:don't|do\s+not|dont)\s+want\s+to\s+(?:live|be\s+alive|exist|be\s+saved|"
    r"wake\s+up(?!\s+(?:early|at\s+\d|before)))\b",
    r"\b(?:no|any)\s+(?:reason|point)\s+(?:to|in)\s+(?:keep\s+)?(?:living|live|going\s+on)\b",
    r"\bnot\s+worth\s+living\b|\blife\s+isn't\s+worth\s+living\b",
    r"\b(?:won't|will\s+not|not\s+going\s+to)\s+be\s+(?:here|alive|around)\s+"
    r"(?:tomorrow|much\s+longer|by|anymore|after)",
    r"\bbe\s+gone\s+(?:for\s+good|forever)\b|\bend\s+(?:it|things)\s+(?:all|for\s+good|tonight|"
    r"today|forever)\b|\bend\s+it\s+all\b|\bending\s+it\b",
    r"\b(?:never|not|don't)\s+(?:have\s+to\s+)?wake\s+up\b(?!\s+(?:early|at\s+\d|before))|"
    r"\bstop\s+existing\b|"
    r"\bdisappear\s+forever\b",
    r"\b(?:going|want|gonna|plan|planning)\s+to\s+(?:jump|walk\s+into\s+the\s+(?:sea|ocean|"
    r"river|lake))(?:\s+(?:off|from|in\s+front\s+of)\b|\s*[.!]|$|\s+tonight)",
    r"\b(?:going\s+to|gonna|will)\s+(?:crash|drive)\b[^.!?]{0,40}\b(?:on\s+purpose|into\s+a\s+"
    r"(?:wall|tree))",
    r"\bhow\s+(?:much|many)\b[^.!?]{0,60}\b(?:would|will|to)\s+kill\s+me\b|"
    r"\benough\s+to\s+kill\s+me\b",
    r"\b(?:been|keep|kept)\s+(?:self[- ]harming|hitting\s+myself|cutting\s+myself|"
    r"hurting\s+myself)\b|\bcut\s+myself\s+again\b",
    r"\b(?:want|going|gonna)\s+to\s+(?:hurt|harm|cut)\s+(?:myself|until|deeper)\b|"
    r"\bcut\s+until\b|\buse\s+it\s+on\s+myself\b",
    r"\b(?:rope|noose|pills|gun|razor\s+blade|blade)\s+(?:is\s+|are\s+)?(?:ready|lined\s+up|"
    r"in\s+my\s+hand)\b",
    r"\b(?:going|want|plan|planning|ready|decided)\s+to\s+(?:overdose|take\s+(?:them|it|"
    r"every\w*)\s+all|take\s+(?:all|every)\b[^.!?]{0,25}\bpills)\b",
    r"\bi(?:'m|\s+am)\s+(?:seriously\s+)?(?:considering|contemplating|thinking\s+(?:about|of))"
    r"\s+(?:suicide|ending\s+it|killing\s+myself)\b",
    r"\bmy\s+(?:suicide|goodbye)\s+(?:note|letter|plan)s?\b",
    r"\b(?:nobody|no\s+one|no-one)\s+(?:would|will)\s+(?:care|notice|miss\s+me)\s+if\s+i\s+"
    r"(?:died|was\s+gone|were\s+gone|killed\s+myself|disappeared)\b",
    r"\bi\s+(?:want|need)\s+(?:it|everything|the\s+pain|my\s+life)\s+to\s+(?:stop|end|be\s+over)"
    r"\s+(?:forever|permanently|for\s+good)\b",
    r"\b(?:having|have|had)\s+(?:\w+\s+)?thoughts\s+(?:of|about)\s+(?:suicide|killing\s+myself|"
    r"ending\s+(?:it|my\s+life))\b(?![^.!?]{0,40}\b(?:years?\s+ago|used\s+to|in\s+the\s+past))",
    r"\bi\s+(?:took|have\s+taken|'ve\s+taken|just\s+took)\s+(?:an\s+overdose|(?:all|the)\s+"
    r"pills|enough)\b|\bi've\s+already\s+taken\s+the\s+pills\b",
)]
# A method named together with first-person intent somewhere in the same message.
_METHOD_RE = re.compile(rf"\b(?:{_METHOD})")
_INTENT_RE = re.compile(r"\bi(?:'m|\s+am)?\s+(?:want|going|will|plan|intend)\b[^.!?]{0,30}"
                        r"\b(?:it|them|tonight|to\s+try)\b|\bi\s+want\s+it\s+to\s+be\s+over\b")
_NEGATED = re.compile(r"\b(?:never|not|n't|no\s+longer|won't|wouldn't|if\s+(?:he|she|they))"
                      r"\W+(?:\w+\W+){0,2}$")
_THIRD_PERSON_QUOTE = re.compile(r"\b(?:he|she|they|his|her|their)\b")
# Cheap gate for the embedding check: first person plus a word from the crisis vocabulary.
_CRISIS_WORDS = re.compile(
    r"\b(?:die|dying|dead|death|kill|suicid\w*|end\s+(?:it|my|things|everything)|alive|"
    r"living|pills?|overdose|hurt|harm|bleed|jump|bridge|rope|noose|gun|razor|wrists?|"
    r"burden|goodbye|disappear|wake\s+up|gone|hopeless|worthless|exist)\b")
# Leading whitespace stays outside the span, so a redacted or quoted sentence starts clean.
_SENTENCE = re.compile(r"[^.!?\n\s][^.!?\n]*(?:[.!?]+|\n|$)")


_CONTRACTIONS = {"im": "i'm", "ive": "i've", "wanna": "want to", "gonna": "going to",
                 "cant": "can't", "dont": "don't"}
_CONTRACTION_RE = re.compile(r"\b(?:im|ive|wanna|gonna|cant|dont)\b")
# All strong patterns as one alternation: one scan per sentence instead of one per pattern.
_STRONG_ANY = re.compile("|".join(f"(?:{p.pattern})" for p in _STRONG))


def normalize(text: str) -> str:
    """Lowercase, straight apostrophes, common contractions spelled out. Lengths change, so
    findings report whole sentences of the original text."""
    t = text.lower().replace("’", "'").replace("‘", "'")
    t = _CONTRACTION_RE.sub(lambda m: _CONTRACTIONS[m.group()], t)
    return re.sub(r"\bi\s+'(m|ll|ve|d)\b", r"i'\1", t)


def pattern_hit(sentence: str, whole: str = "") -> bool:
    """True if a normalized sentence states first-person crisis intent."""
    for m in _STRONG_ANY.finditer(sentence):
        if not _NEGATED.search(sentence[:m.start()]):
            return True
    return bool(_METHOD_RE.search(sentence) and (_INTENT_RE.search(whole or sentence)
                                                 or re.search(r"\bi\s+want\s+to\s+die\b", whole)))


class CrisisDetector(SimilarityBacked):
    """Flags sentences stating intent to die or self-harm (score 0.95 pattern, else cosine)."""

    name = "crisis"
    category: Category = "crisis"
    cost = 3
    needs_ner = False

    def __init__(self, semantic: bool = True, margin: float = 0.12, min_similarity: float = 0.5,
                 index: PhraseIndex | None = None) -> None:
        super().__init__(ANCHORS, semantic=semantic, margin=margin,
                         min_similarity=min_similarity, index=index)

    def scan(self, text: str) -> list[Finding]:
        whole = normalize(text)
        findings: list[Finding] = []
        candidates: list[Window] = []
        for m in _SENTENCE.finditer(text):
            sentence = normalize(m.group())
            if not sentence.strip():
                continue
            if pattern_hit(sentence, whole):
                findings.append(Finding("crisis", m.start(), m.end(), 0.95, PATTERN_DETECTOR,
                                        "SELF_HARM_INTENT"))
            elif re.search(_FIRST, sentence) and _CRISIS_WORDS.search(sentence):
                candidates.append(Window(m.start(), m.end(), m.group().strip()))
        if self.semantic and candidates and not findings:
            findings.extend(Finding("crisis", w.start, w.end, round(match.positive, 4),
                                    SEMANTIC_DETECTOR, "SELF_HARM_INTENT")
                            for w, match in self.similarity.flag(candidates))
        return findings
