"""The injection heuristics: attack shapes as scored patterns, seen through obfuscation.

Each pattern names a shape attacks share (override, exfiltration, persona, mode switch,
authority claim, template delimiter, indirect instruction, encoded payload). Before giving
up on a text, the same patterns run on two derived views of it:

- the text with its obfuscation undone: zero-width characters dropped, full-width letters
  folded (NFKC), letters spelled out with separators joined ("i-g-n-o-r-e"), and leetspeak
  read as letters ("1gn0r3");
- payloads it carries in an encoding (base64, hex, and, when the text names them, ROT13 or
  reversed text), decoded.

A match inside a short quotation in a text that talks *about* the phrase ("translate
'ignore previous instructions'", "attackers type '...'") is a mention, not a use, and does
not count. Pure: no models, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

from warden.safety.policy import Finding

HEURISTIC_DETECTOR = "injection.heuristics"

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
# lowercased text, so ordinary prose skips most of the case-insensitive scans.
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
          "esquece", "dimentica", "laisse", "vergessen", "ignorieren"),
         r"\b(?:olvida|ignora|ignore[zs]?|oublie[zs]?|ignoriere|vergiss|"
         r"esquece|dimentica)\s+(?:todas\s+|toutes\s+|alle\s+|tutte\s+)?"
         r"(?:las\s+|les\s+|le\s+|as\s+|deine\s+)?(?:instrucciones|"
         r"instructions|anweisungen|istruzioni|instru[çc][õo]es|vorherigen)|"
         # Formal and idiomatic forms, with a few words between verb and object; "rules"
         # only as *your* rules ("ignorez les règles de grammaire" is a writing tip).
         r"\b(?:oublie[zs]?|ignore[zs]|laisse[zs]?\s+tomber|vergessen\s+sie|"
         r"ignorieren\s+sie|vergiss|ignoriere)\s+(?:\w+\s+){0,3}?(?:consignes|instructions|"
         r"anweisungen|(?:vos|tes|ihre|deine)\s+(?:r[èe]gles|regeln))\b"),
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
        # Model-directed only: "our new policy: remote Fridays" is office news.
        ("OVERRIDE", 0.85, ("new", "updated", "real"),
         r"\b(?:new|updated|real)\s+(?:system\s+(?:instructions?|rules|prompt|message)|"
         r"instructions?|prompt)\s*(?::|are\b|allow|permit|has\s+been)|\byour\s+(?:new|"
         r"updated|real)\s+(?:rules|polic(?:y|ies)|guidelines)\b"),
        ("EXFILTRATION", 0.9, ("prompt", "instruction", "message", "configuration", "rules",
          "preamble"),
         r"\b(?:reveal|print|show|output|repeat|tell|give|paste|quote|leak|dump|spell|list|"
         r"display|rewrite|what(?:'s|\s+is|\s+are|\s+were)|copy|echo|paste|output)\b"
         r"[^.?!\n]{0,40}(?:\b(?:your|the|its)\s+(?:\w+\s+)?system|\b(?:initial|hidden|"
         r"secret|original|internal|developer|raw|full|exact|confidential))\s+"
         r"(?:prompt|instructions?|message|configuration|rules|preamble)"),
        ("EXFILTRATION", 0.85, ("above", "before"),
         r"\b(?:text|everything|words|all)\s+(?:written\s+)?(?:above|"
         r"before)\s+(?:this|my\s+first|starting)"),
        ("EXFILTRATION", 0.85, ("conversation", "context window", "system prompt"),
         r"\b(?:at\s+the\s+(?:very\s+)?top|start)\s+of\s+this\s+"
         r"conversation\b|\b(?:your|this)\s+context\s+window\b|"
         r"\bmy\s+(?:system\s+prompt|(?:hidden|secret)\s+instructions)\s+(?:is|says|reads)"),
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
         r"(?:developer|admin|god|jailbreak|unrestricted|sudo)\s+mode\b(?!\s+(?:on|in|for)\s+"
         r"(?:my\s+|the\s+|your\s+|a\s+)?(?:phone|android|iphone|device|chrome|firefox|edge|"
         r"browser|windows|mac|xbox|playstation|router|app|settings|vs\s*code|bios))"),
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
          "reverse", "filter", "moderation", "classifier"),
         r"\b(?:decode[sd]?|base64|rot13|hex|leetspeak|backwards|reverse)\b[^.?!\n]{0,60}"
         r"\b(?:follow|execute|obey|do\s+(?:what|exactly)|carry\s+(?:it\s+)?out|act\s+on|"
         r"comply|filter|catch|instructions?\s+inside|(?:your|my|the)\s+new\s+"
         r"instruction)|\b(?:filter|moderation|classifier)\s+(?:doesn't|does\s+not|can't|"
         r"won't|will\s+not)\s+(?:catch|read|see|notice|detect|flag)"),
        ("EXFILTRATION", 0.8, ("exfiltrat", "api key", "credentials"),
         r"\b(?:exfiltrate|api\s+key|credentials)\b[^.?!\n]{0,60}\b(?:"
         r"image\s+link|url|attacker|send|reveal)"),
        # --- added for issue 4 (tuned on tests/data/safety/dev/, see docs/safety-detectors.md)
        # Override in more languages (Russian, Chinese, Japanese, Korean, Dutch, Polish,
        # Turkish, Swedish): the verb and the object "instructions" in one clause.
        ("OVERRIDE", 0.9, ("игнор", "забудь", "忽略", "无视", "忘记", "無視", "무시", "negeer",
          "zignoruj", "yok say", "ignorera"),
         r"(?:игнорир\w*|проигнорир\w*|забудь)\s+(?:\w+\s+){0,2}(?:инструкци\w*|указани\w*|"
         r"правил\w*)|(?:忽略|无视|忘记|忘掉)[^。！？\n]{0,12}(?:指令|指示|说明|规则|提示)|"
         r"(?:指示|命令|ルール)[^。\n]{0,6}無視|지시[^.\n]{0,8}무시|\bnegeer\s+(?:alle\s+)?"
         r"(?:eerdere\s+|vorige\s+)?instructies|\bzignoruj\s+(?:wszystkie\s+)?(?:poprzednie\s+)?"
         r"instrukcje|talimatlar\w*\s+(?:\w+\s+)?yok\s+say|\bignorera\s+(?:alla\s+)?"
         r"(?:tidigare\s+)?instruktioner"),
        ("OVERRIDE", 0.9, ("forbid", "prohibit"),
         r"\bwhatever\s+your\s+(?:rules|guidelines|polic(?:y|ies)|instructions|programming)\s+"
         r"(?:forbid|prohibit|disallow)"),
        # System-prompt exfiltration without the word "system": what came before, what you
        # were told, your instructions in another form.
        ("EXFILTRATION", 0.85, ("before my", "above my", "before this", "above this",
          "prior to my", "prior to this", "before the user", "above the user"),
         r"\b(?:instructions|text|words|everything|message|lines)\s+(?:that\s+)?(?:came|comes|"
         r"come|is|are|were|appears?|written)\s+(?:before|above|prior\s+to)\s+(?:my|this|the\s+"
         r"user)"),
        ("EXFILTRATION", 0.85, ("told", "instructed", "programmed", "configured"),
         r"\bwhat\s+(?:were|have|did)\s+you\s+(?:been\s+)?(?:told|instructed|programmed|"
         r"configured)\b[^.?!\n]{0,30}\b(?:not\s+to|to\s+(?:hide|keep|never))|\b(?:preamble|"
         r"instructions|prompt|rules)\s+you\s+(?:were|are)\s+(?:configured|set\s+up|"
         r"initiali[sz]ed|programmed|given|loaded)\s+with\b"),
        ("EXFILTRATION", 0.85, ("instructions", "rules", "prompt", "preamble", "directives",
          "configuration"),
         r"\b(?:print|paste|output|echo|repeat|show|return|convert|translate|spell|encode|dump|"
         r"reveal|leak|quote|recite|list|summari[sz]e)\b[^.?!\n]{0,20}\b(?:your|the\s+rules\s+"
         r"your|the\s+instructions\s+your)\s+(?:\w+\s+){0,2}(?:instructions|rules|prompt|"
         r"preamble|directives|configuration)\b"),
        # Persona and role-play jailbreaks: the rules are gone, never existed, or are a joke.
        ("PERSONA", 0.9, ("removed", "abolished", "disabled", "turned off", "switched off",
          "lifted", "deleted", "stripped", "no longer apply"),
         r"\b(?:guardrails|safety\s+(?:rules|layer|filters?|features|training|guidelines|"
         r"settings)|content\s+(?:polic(?:y|ies)|rules|filters?)|restrictions|filters)\b"
         r"[^.?!\n]{0,30}\b(?:removed|abolished|disabled|turned\s+off|switched\s+off|lifted|"
         r"deleted|stripped|no\s+longer\s+apply)\b"),
        ("PERSONA", 0.9, ("given", "bound", "subject to", "trained with"),
         r"\b(?:was|were|is|are|has|have|been)\s+(?:never|not)\s+(?:been\s+)?(?:given|bound\s+by|"
         r"subject\s+to|trained\s+with)\s+(?:any\s+)?(?:content\s+|safety\s+|ethical\s+)?"
         r"(?:rules|restrictions|guidelines|filters|polic(?:y|ies)|limits)\b"),
        ("PERSONA", 0.85, ("ethical", "guardrails", "content rules", "no polic", "any polic",
          "without polic"),
         r"\b(?:no|without\s+(?:any\s+)?)\s*(?:ethical\s+(?:limits|boundaries|constraints|"
         r"rules)|guardrails|content\s+rules|polic(?:y|ies))\b(?=[^.?!\n]{0,60}\b(?:answer|"
         r"respond|reply|tell|write|explain|label|ai|assistant|model|self|persona|version)\b)"),
        ("PERSONA", 0.85, ("reply with", "replies with", "response with", "responses with",
          "answer with", "answers with", "refusals", "break character"),
         r"\b(?:start|begin)\s+(?:every|each|all|your)\s+(?:reply|replies|response|responses|"
         r"answer|answers)\s+with\s+[\"'“]?(?:sure|absolutely|of\s+course)|\b(?:never|don't|"
         r"do\s+not)\s+(?:include|add|give|issue)\s+(?:any\s+)?(?:warnings\s+or\s+refusals|"
         r"refusals)\b|\bnever\s+break\s+character\s+to\s+refuse\b"),
        # Indirect injection hidden in documents, pages and mails the model will read.
        ("INDIRECT", 0.85, ("ai ", "ai:", "ai,", "ais ", "assistant", "model", "llm", "agent",
          "bot"),
         r"\b(?:notice|note|message|instructions?|text|attention|reminder)\s+(?:to|for)\s+"
         r"(?:the\s+|any\s+|all\s+)?(?:ai|assistant|agent|language\s+model|llm|model|bot|"
         r"chatbot)s?\b(?!\s+(?:team|group|department|lab|researchers?|engineers?|"
         r"vendors?|course|class))|\bif\s+you\s+are\s+an?\s+(?:ai|assistant|language\s+model|"
         r"llm|model|bot|agent)\b|\b(?:ai|llm)\s+(?:agents?|assistants?|models?)\s*[:,]\s*"
         r"(?:ignore|disregard|do\s+not|don't|reply|respond|say|tell|forward|send)"),
        # Role headers and chat-template tokens used as structure (at a line start, or
        # closing one role and opening another), not mentioned in a question.
        ("DELIMITER", 0.9, ("[system", "[assistant", "</user", "<assistant", "</assistant",
          "<user"),
         r"(?m)^\s*\[(?:system|assistant|admin|developer)\]\s*:|</(?:user|assistant)>\s*"
         r"<(?:assistant|user|system)>"),
        ("AUTHORITY", 0.85, ("verified", "authorized", "authorised", "granted"),
         r"\b(?:user|i)\s+(?:has|have|am|is)\s+(?:been\s+)?(?:verified|authori[sz]ed|granted)\s+"
         r"(?:as\s+)?(?:an?\s+)?(?:admin|administrator|developer|root|operator|superuser)\b"),
    ))


# A quotation of at most this many words can be a phrase under discussion; a longer one is
# a payload, and is judged like any other text.
_MENTION_MAX_WORDS = 8
_QUOTED = re.compile(r"\"([^\"\n]{3,200})\"|`([^`\n]{3,200})`|“([^”\n]{3,200})”|«([^»\n]{3,200})»|"
                     r"(?:(?<=\s)|^)'([^'\n]{3,200})'(?=[\s.,;:!?)]|$)|‘([^’\n]{3,200})’")
# What a text that discusses an attack phrase says around it.
_META = re.compile(
    r"(?i)\b(?:translat\w*|explain\w*|why|what\s+does|means?|meaning|example|examples|"
    r"attackers?|attacks?|phrase|string|training|awareness|course|slides?|research\w*|paper|"
    r"detect\w*|classif\w*|block\w*|test\s+cases?|character|screenplay|novel|story|"
    r"dialogue|typing|typed|types|spell|pronounce|template|format\w*|tokens?)\b")


# A template token asked about ("what does [INST] mean?") rather than used as structure.
_QUESTION = re.compile(r"[^.!?\n]*\?")


def _mention_spans(text: str) -> list[tuple[int, int]]:
    if not _META.search(text):
        return []
    spans = []
    for m in _QUOTED.finditer(text):
        group = next(g for g in m.groups() if g is not None)
        if len(group.split()) <= _MENTION_MAX_WORDS:
            spans.append((m.start(), m.end()))
    return spans


def _is_mention(label: str, start: int, end: int, text: str,
                quoted: list[tuple[int, int]]) -> bool:
    if any(s <= start and end <= e for s, e in quoted):
        return True
    if label != "DELIMITER":
        return False
    line_start = text.rfind("\n", 0, start) + 1
    if not text[line_start:start].strip():
        return False  # a token opening a line is structure
    return any(q.start() <= start and end <= q.end() and _META.search(q.group())
               for q in _QUESTION.finditer(text))


def _scan(text: str, prefilter: bool) -> list[tuple[str, float, int, int]]:
    lowered = text.lower()
    hits: list[tuple[str, float, int, int]] = []
    for label, score, keywords, pattern in _HEURISTICS:
        if prefilter and not any(k in lowered for k in keywords):
            continue
        hits.extend((label, score, m.start(), m.end()) for m in pattern.finditer(text))
    quoted = _mention_spans(text) if hits else []
    return [h for h in hits if not _is_mention(h[0], h[2], h[3], text, quoted)]


# --- obfuscation ----------------------------------------------------------------------------
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
# Three or more single letters joined by one separator: "i-g-n-o-r-e", "s.y.s.t.e.m".
_SPELLED = re.compile(r"(?<![\w-])\w(?:[-_.*·/|]\w){2,}(?![\w-])")
_LEET_WORD = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-zA-Z])(?=[\w@$]*[013457@$])[\w@$]{3,}")
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_CHARS = re.compile(r"[013457@$]")
_LETTER_LEET_LETTER = re.compile(r"[a-zA-Z][013457@$]+[a-zA-Z]")
_LEET_HEAD = re.compile(r"[013457@$][a-zA-Z]{2,}")  # "4ll", "1gnore"
_LEET_TAIL = re.compile(r"[a-zA-Z]{2,}[013457@$]")  # "th3", "rul3"
_ORDINAL = re.compile(r"(?i)\d(?:st|nd|rd|th)")


def _leet_word(word: str) -> str:
    """`word` read as letters, if it looks like leetspeak ("1gn0r3", "s3tup", "th3") rather
    than a unit, ordinal or model number ("200k", "4th", "2010s", "COVID19"). A false
    reading costs only a second scan: the patterns still need an attack's shape."""
    letters = sum(c.isalpha() for c in word)
    leet = len(_LEET_CHARS.findall(word))
    if ((leet >= 2 and letters >= 2) or _LETTER_LEET_LETTER.search(word)
            or (_LEET_HEAD.fullmatch(word) and not _ORDINAL.fullmatch(word))
            or _LEET_TAIL.fullmatch(word)):
        return word.translate(_LEET)
    return word


def deobfuscate(text: str) -> str:
    """The text as a reader would see it through the usual character-level disguises."""
    t = text if text.isascii() else unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    t = _SPELLED.sub(lambda m: re.sub(r"[-_.*·/|]", "", m.group()), t)
    return _LEET_WORD.sub(lambda m: _leet_word(m.group()), t)


# --- encoded payloads -----------------------------------------------------------------------
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[\s:]?){8,}(?![0-9A-Fa-f])")
# Base64 of text nearly always has a digit, "+", "/", "=" or a capital after a small letter.
_B64_SHAPE = re.compile(r"[0-9+/=]|[a-z][A-Z]")
_NAMES_ROT13 = re.compile(r"(?i)\brot-?13\b")
_NAMES_REVERSED = re.compile(r"(?i)\b(?:revers\w*|backwards?)\b")


def _readable(raw: bytes) -> str | None:
    """Decoded bytes as text if they read as words (not a hash, key or image)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(c.isalpha() or c == " " for c in text)
    return text if len(text) >= 8 and " " in text and letters >= 0.8 * len(text) else None


def decoded_payloads(text: str) -> list[tuple[int, int, str]]:
    """(start, end, decoded text) for each encoded payload the text carries."""
    out: list[tuple[int, int, str]] = []
    for m in _BASE64.finditer(text):
        blob = m.group()
        if not _B64_SHAPE.search(blob):
            continue  # a long plain word ("internationalization"), not an encoding
        try:
            decoded = _readable(base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True))
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            out.append((m.start(), m.end(), decoded))
    for m in _HEX.finditer(text):
        try:
            decoded = _readable(bytes.fromhex(re.sub(r"[\s:]", "", m.group())))
        except ValueError:
            decoded = None
        if decoded:
            out.append((m.start(), m.end(), decoded))
    if _NAMES_ROT13.search(text):
        out.append((0, len(text), codecs.decode(text, "rot13")))
    if _NAMES_REVERSED.search(text):
        out.append((0, len(text), text[::-1]))
    return out


def heuristic_findings(text: str, prefilter: bool = True) -> list[Finding]:
    """Scored attack shapes in `text`, else in its de-obfuscated view, else in the payloads
    it carries encoded. Findings on a derived view cover the whole text (offsets differ) or
    the encoded payload."""
    hits = _scan(text, prefilter)
    if hits:
        return [Finding("injection", s, e, score, HEURISTIC_DETECTOR, label)
                for label, score, s, e in hits]
    plain = deobfuscate(text)
    if plain != text and (hits := _scan(plain, prefilter)):
        return [Finding("injection", 0, len(text), max(h[1] for h in hits), HEURISTIC_DETECTOR,
                        "OBFUSCATED")]
    findings = []
    for start, end, payload in decoded_payloads(text):
        if hits := _scan(payload, prefilter) or _scan(deobfuscate(payload), prefilter):
            findings.append(Finding("injection", start, end, max(h[1] for h in hits),
                                    HEURISTIC_DETECTOR, "ENCODED"))
    return findings
