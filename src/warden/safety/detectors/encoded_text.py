"""Encoded text in a user's turn: words hidden from the reader are an attack on the filter.

A person who wants an answer writes it in plain words. Text the user wrote in base64, hex,
Morse, Braille, Unicode tag characters or ROT13, asking the model to read it back, is the
"encoding attack" of Azure Prompt Shields and garak's `encoding` probes: the hidden words
reach the model but not a filter that reads plain text. The category models also judge the
decoded text (`textviews.views`), but a payload of one word ("Haha pwned!", a slur, an XSS
string) is too short for them to judge; what gives it away is that it was hidden.

So the guard has a built-in category of its own, `encoded_text`, read in the user's own
turns only (`pipeline.ROLE_CATEGORIES`: retrieved pages and tool results carry base64 for
honest reasons: file contents, tokens, attachments). Its default action is `block`; a
tier that serves people who legitimately paste encoded text (a developer console) sets
`encoded_text: allow`, and the category models still judge what it decodes to. Hashes,
keys, IDs and images never count: a span counts only when it decodes to readable text
(`warden.safety.encodings`).

Pure: no models, no I/O.
"""

from __future__ import annotations

import re

from warden.safety.encodings import encoded_spans
from warden.safety.policy import Category, Finding
from warden.safety.textviews import clean, common_words, letter_readings, unmask, word_share

CATEGORY: Category = "encoded_text"
DETECTOR = "encoded_text.readers"
# Three or more Unicode tag characters: ASCII that renders as nothing.
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]{3,}")


class EncodedTextDetector:
    """Flags readable text hidden in an encoding; the label names it (`ENCODED_BASE64`)."""

    name = DETECTOR
    category: Category = CATEGORY
    cost = 2
    needs_ner = False

    def scan(self, text: str) -> list[Finding]:
        findings = [Finding(CATEGORY, m.start(), m.end(), 1.0, DETECTOR, "ENCODED_UNICODE_TAGS")
                    for m in _TAG_RUN.finditer(text)]
        findings += [Finding(CATEGORY, s.start, s.end, 1.0, DETECTOR,
                             f"ENCODED_{s.encoding.upper()}")
                     for s in encoded_spans(text)
                     if not any(f.start < s.end and s.start < f.end for f in findings)]
        if findings:
            return findings
        # Letters shifted in place (ROT13, Atbash): the reading must be mostly frequent words
        # (at least three) and far more so than the text; naming ROT13 hides nothing. A line
        # counts on its own: an instruction in plain words above a shifted line.
        plain = clean(text)
        for part in dict.fromkeys([plain, *plain.splitlines()]):
            if word_share(part) >= 0.2:
                continue  # already reads as words (the common case: skip the rest)
            for cipher, reading in letter_readings(unmask(part), named_counts=False):
                if word_share(reading) >= 0.5 and common_words(reading) >= 3:
                    return [Finding(CATEGORY, 0, len(text), 0.9, DETECTOR,
                                    f"ENCODED_{cipher.upper()}")]
        return []
