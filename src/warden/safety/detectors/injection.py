"""Prompt injection and jailbreaks: heuristics first, then similarity to known attacks.

Heuristics name the shapes attacks share: overriding earlier instructions, asking for the
system prompt, persona jailbreaks (DAN and kin), "developer/admin/god mode", chat-template
delimiters smuggled into user text, and hints to decode a hidden payload. Each carries a
score; one strong hit blocks on its own. A sentence with only a weak cue (the vocabulary of
attacks without their shape: "instructions", "rules", "pretend") goes to the embedding
check against data/injection_corpus.txt, contrasted with its benign look-alikes.
"""

from __future__ import annotations

import re

from warden.safety.detectors.similarity import PhraseIndex, phrase_index
from warden.safety.findings import Category, Finding

HEURISTIC_DETECTOR = "injection.heuristics"
SEMANTIC_DETECTOR = "injection.semantic"
CORPUS = "injection_corpus.txt"

_PRIOR = r"(?:previous|prior|above|earlier|preceding|initial|original|old|all|any|your|" \
         r"system|developer's|operator's|the\s+website\s+owner's)"
_RULES = r"(?:instructions?|instr\.?|prompts?|rules|directions|directives|guidelines|" \
         r"constraints|programming|restrictions|commands|criteria|training|policies|" \
         r"content\s+polic(?:y|ies)|safety\s+(?:rules|filters?|protocols?|guidelines))"
_OVERRIDE_VERB = r"(?:ignore|ignoring|disregard|forget|forgot|drop|discard|override|bypass|" \
                 r"skip|cancel|void|abandon|stop\s+following|don't\s+follow|do\s+not\s+follow)"

_VERB_WORDS = ("ignor", "disregard", "forg", "drop", "discard", "overrid", "bypass", "skip",
                "cancel", "void", "abandon", "follow")

# (label, score, keywords, pattern): a pattern runs only if one of its keywords occurs in the
# lowercased text, so ordinary prose skips most of the 24 case-insensitive scans.
# tests/unit/safety/test_injection.py checks that the keywords never hide a match.
_HEURISTICS: tuple[tuple[str, float, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (label, score, keywords, re.compile(pattern, re.IGNORECASE))
    for label, score, keywords, pattern in (
        # "ignore all previous instructions" (and typos); not "my previous instructions about X"
        ("OVERRIDE", 0.95, _VERB_WORDS,
         rf"\b{_OVERRIDE_VERB}\b(?:\s+(?:about|all|of|the|any|everything|every|your|these|"
         rf"those|that|you\s+were\s+told|what\s+you\s+were\s+told))*\s+{_PRIOR}\b"
         rf"(?:\s+\w+){{0,2}}?\s+{_RULES}\b(?!\s+(?:i\s+gave|from\s+me|about\s+(?:the\s+)?"
         r"(?:format|formatting|style|tone|length)))"),
        ("OVERRIDE", 0.9, ("prev", "prior"),
         r"\b(?:ig\w{2,4}|disreg\w*|forg\w{1,3})\s+(?:all\s+)?(?:prev|prior)\w*\s+"
         r"inst\w*"),
        # The same override in the languages attacks most often switch to.
        ("OVERRIDE", 0.9, ("olvida", "ignora", "ignore", "oublie", "ignoriere", "vergiss",
          "esquece", "dimentica"),
         r"\b(?:olvida|ignora|ignore[zs]?|oublie[zs]?|ignoriere|vergiss|"
         r"esquece|dimentica)\s+(?:todas\s+|toutes\s+|alle\s+|tutte\s+)?"
         r"(?:las\s+|les\s+|le\s+|as\s+|deine\s+)?(?:instrucciones|"
         r"instructions|anweisungen|istruzioni|instru[çc][õo]es|vorherigen)"),
        ("OVERRIDE", 0.85, ("been",),
         r"\byour\s+(?:guidelines|rules|polic(?:y|ies)|instructions)\s+"
         r"(?:have|has)\s+been\s+(?:updated|changed|removed|lifted)"),
        ("OVERRIDE", 0.9, _VERB_WORDS,
         rf"\b{_OVERRIDE_VERB}\s+(?:everything|all)\s+(?:you\s+were\s+told|"
         r"before|above)\b"),
        ("OVERRIDE", 0.9, ("instructions",),
         r"\b(?:your\s+)?(?:previous|old|earlier|prior|original)\s+"
         r"instructions\s+(?:are|were)\s+(?:void|outdated|a\s+test|fake|"
         r"cancell?ed|revoked|no\s+longer)"),
        ("OVERRIDE", 0.85, ("new", "updated", "real"),
         r"\b(?:new|updated|real)\s+(?:system\s+)?(?:instructions?|rules|"
         r"prompt|policy|guidelines)\s*(?::|are\b|allow|permit|has\s+been)"),
        ("EXFILTRATION", 0.9, ("prompt", "instruction", "message", "configuration", "rules"),
         r"\b(?:reveal|print|show|output|repeat|tell|give|paste|quote|leak|dump|spell|list|"
         r"display|rewrite|what(?:'s|\s+is|\s+are|\s+were)|copy)\b[^.?!\n]{0,40}\b(?:system|"
         r"initial|hidden|secret|original|internal|developer|raw|full|exact|confidential)\s+"
         r"(?:prompt|instructions?|message|configuration|rules)"),
        ("EXFILTRATION", 0.85, ("above", "before"),
         r"\b(?:text|everything|words|all)\s+(?:written\s+)?(?:above|"
         r"before)\s+(?:this|my\s+first|starting)"),
        ("EXFILTRATION", 0.85, ("conversation", "context window", "system prompt"),
         r"\b(?:at\s+the\s+(?:very\s+)?top|start)\s+of\s+this\s+"
         r"conversation\b|\bcontext\s+window\b|\bmy\s+system\s+prompt\s+is"),
        ("EXFILTRATION", 0.8, ("instructions", "rules"),
         r"\b(?:your|the)\s+(?:instructions|rules)\b[^.?!\n]{0,30}\b(?:told|"
         r"given|were\s+given|exactly\s+as|verbatim|word\s+for\s+word)"),
        # Persona names count only when the text casts the model as them.
        ("PERSONA", 0.95, ("dan", "anything", "stan", "aim", "jail"),
         r"\b(?:you|pretend|act|become|be|as)\b[^.?!\n]{0,60}(?:(?-i:\bDAN\b|\bSTAN\b|"
         r"\bAIM\b)|\bdo\s+anything\s+now\b)|\bjail\s?broken\b|"
         r"\bjailbreak\b(?=[^.?!\n]{0,40}\b(?:mode|version|persona|who|"
         r"response|has\s+no))"),
        ("PERSONA", 0.9, ("restriction", "limit", "filter", "censor", "ethic", "guideline",
          "rules", "moral", "polic", "safety", "confines", "constraint"),
         r"\b(?:no|without|free\s+(?:of|from)|freed\s+from|broken\s+free\s+of|"
         r"(?:not|no\s+longer)\s+bound\s+by|drop\s+all)\s+(?:any\s+|all\s+|your\s+|the\s+)?"
         r"(?:restrictions|limits|limitations|filters?|filtering|censorship|"
         r"ethical\s+(?:guidelines|considerations)|guidelines|rules|morals|"
         r"content\s+polic(?:y|ies)|safety\s+(?:training|features|filters?)|"
         r"typical\s+confines|constraints)\b(?!\s+on\s+free\s+speech)"),
        ("PERSONA", 0.85, ("unfiltered", "uncensored", "unrestricted", "amoral", "unaligned",
          "evil confidant"),
         r"\b(?:unfiltered|uncensored|unrestricted|amoral|unaligned|"
         r"evil\s+confidant)\b(?=[^.?!\n]{0,30}\b(?:ai|model|assistant|"
         r"chatbot|mode|version|answer|persona)\b)|\b(?:an?|the)\s+"
         r"(?:unfiltered|uncensored|unrestricted|amoral)\s+\w+"),
        ("PERSONA", 0.85, ("refuse", "mention", "can't"),
         r"\b(?:never|don't|do\s+not)\s+(?:refuse|refuses|mention\s+"
         r"(?:policies|this\s+instruction)|say\s+you\s+can't)\b"),
        ("PERSONA", 0.8, ("safety", "alignment"),
         r"\bsafety\s+(?:training|features|filters?|checks|protocols)\s+"
         r"(?:was\s+|were\s+|are\s+|is\s+)?(?:removed|disabled|off|suspended)|"
         r"\b(?:safety|alignment)\b[^.?!\n]{0,20}\b(?:is\s+off|ignore|"
         r"disabled)\b|\bignore\s+(?:your\s+)?(?:alignment|safety)\b"),
        ("MODE", 0.9, ("mode",), r"\b(?:developer|dev|admin|god|sudo|debug|maintenance|opposite|"
         r"unrestricted|jailbreak|testing)\s+mode\b(?=[^\n]{0,120}\b(?:ignore|"
         r"polic|refus|restrict|filter|safety|rules|disable|no\s+|never|"
         r"anything|full\s+control|confirm|hidden|configuration))"),
        ("MODE", 0.85, ("mode",),
         r"\b(?:enable|activate|switch\s+to|enter|turn\s+on)\s+(?:your\s+)?"
         r"(?:developer|admin|god|jailbreak|unrestricted|sudo)\s+mode\b(?!\s+on\s+"
         r"(?:my|the|your)\s+(?:phone|android|iphone|device|chrome))"),
        ("AUTHORITY", 0.85, ("developer", "creator", "admin", "operator", "override",
          "clearance", "authorized"),
         r"\b(?:i\s+am|i'm)\s+(?:your|the\s+real)\s+(?:developer|creator|"
         r"admin|administrator|operator)\b[^.?!\n]{0,60}\b(?:authori[sz]e|"
         r"bypass|disregard|ignore|permission|print|reveal)|\b(?:override|"
         r"admin\s+access|clearance|authorized\s+for)\b[^.?!\n]{0,60}"
         r"\b(?:disable|ignore|restrictions|filter|refus)"),
        ("DELIMITER", 0.9, ("im_", "inst]", "<<sys", "system", "###", "end of", "begin new"),
         r"<\|?im_(?:start|end)\|?>|\[/?INST\]|<</?SYS>>|</?system>|"
         r"\[system\]\(#|###\s*(?:system|instruction)\s*:|"
         r"\bEND\s+OF\s+(?:USER\s+INPUT|PROMPT)\b|BEGIN\s+NEW\s+PROMPT|"
         r"NEW\s+SYSTEM\s+MESSAGE|SYSTEM\s+OVERRIDE"),
        ("INDIRECT", 0.9, ("ai", "assistant", "model", "llm"),
         r"\b(?:note|message|instruction|p\.?s\.?)\s+(?:to|for)\s+(?:any|the)\s+"
         r"(?:ai|assistant|language\s+model|llm|model)\b|\b(?:ai|assistant|"
         r"language\s+model)\s*(?:instruction|:)[^.\n]{0,80}\b(?:ignore|forward|"
         r"send|email|disregard|do\s+not\s+tell)|\bto\s+any\s+ai\s+reading"),
        ("INDIRECT", 0.8, ("ai-reviewer", "ignore"),
         r"\bai-reviewer\b|\b(?:ai|assistant)\b[^.\n]{0,40}\bignore\s+the\s+"
         r"\w+\s+(?:guidelines|criteria|instructions)"),
        ("ENCODED", 0.85, ("decode", "base64", "rot13", "hex", "leetspeak", "backwards",
          "filter", "moderation"),
         r"\b(?:decode|base64|rot13|hex|leetspeak|backwards)\b[^.?!\n]{0,60}"
         r"\b(?:follow|execute|obey|do\s+what|filter|catch|instructions\s+"
         r"inside)|\b(?:filter|moderation)\s+(?:doesn't|does\s+not|can't|"
         r"won't)\s+(?:catch|read|see)"),
        ("EXFILTRATION", 0.8, ("exfiltrat", "api key", "credentials"),
         r"\b(?:exfiltrate|api\s+key|credentials)\b[^.?!\n]{0,60}\b(?:"
         r"image\s+link|url|attacker|send|reveal)"),
    ))

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


def heuristic_findings(text: str, prefilter: bool = True) -> list[Finding]:
    lowered = text.lower()
    findings: list[Finding] = []
    for label, score, keywords, pattern in _HEURISTICS:
        if prefilter and not any(k in lowered for k in keywords):
            continue
        for m in pattern.finditer(text):
            findings.append(Finding("injection", m.start(), m.end(), score,
                                    HEURISTIC_DETECTOR, label))
    return findings


class InjectionDetector:
    """Flags prompt injection / jailbreak attempts (heuristics, then cosine to the corpus)."""

    name = "injection"
    category: Category = "injection"
    cost = 3
    needs_ner = False

    def __init__(self, semantic: bool = True, margin: float = 0.11,
                 min_similarity: float = 0.45, index: PhraseIndex | None = None) -> None:
        self.semantic = semantic
        self.margin = margin
        self.min_similarity = min_similarity
        self._index = index

    def load(self) -> None:
        if self.semantic:
            self.index.load()

    @property
    def index(self) -> PhraseIndex:
        if self._index is None:
            self._index = phrase_index(CORPUS)
        return self._index

    def scan(self, text: str) -> list[Finding]:
        findings = heuristic_findings(text)
        if findings or not self.semantic:
            return findings
        windows = [(m.start(), m.end(), m.group().strip()) for m in _SENTENCE.finditer(text)
                   if _CUES.search(m.group()) and _ADDRESSED.search(m.group())]
        if not windows:
            return []
        for (start, end, _), match in zip(windows, self.index.match([w[2] for w in windows]),
                                          strict=True):
            if match.score >= self.margin and match.positive >= self.min_similarity:
                findings.append(Finding("injection", start, end, round(match.positive, 4),
                                        SEMANTIC_DETECTOR, "SIMILAR_TO_KNOWN_ATTACK"))
        return findings
