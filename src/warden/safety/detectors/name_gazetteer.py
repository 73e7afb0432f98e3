"""Person names from a list of given names and surnames, beside spaCy's NER.

spaCy's small English pipeline misses names it has not seen in English news ("Wojciech
Nowak", "Ayşe Yılmaz") and names at the start of a sentence, and it tags capitalised
product and place phrases as people. A gazetteer answers both: a known given name followed
by a capitalised word is a name, and a multi-word NER span with no known name part and no
cue is probably not. The list is `data/names.txt`, built from Faker's person providers by
scripts/build_name_gazetteer.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources

# A capitalised word: Latin letters with diacritics, apostrophes and hyphens ("O'Brien",
# "Anne-Marie", "Yılmaz").
_WORD = r"[A-ZÀ-ÖØ-ÞĀ-Ž][a-zß-öø-ÿā-žı'’-]+"
_CAPITALISED_WORD = re.compile(rf"(?<![\w@./-]){_WORD}(?![\w@-])")
_TITLED = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Sr|Sra|Srta|Mme|Mlle|Sig|Sig\.ra|Pan|Pani|"
    rf"Bay|Bayan)\.?\s+({_WORD}(?:\s+{_WORD})?)")


# "Maria Hospital", "Jordan Street", "Anna Smith Ltd": the words after decide it is a place or
# a company, not a person.
_PLACE_OR_ORG = re.compile(
    r"\s+(?:Street|St|Road|Rd|Avenue|Ave|Lane|Drive|Boulevard|Square|Park|Station|Airport|"
    r"Hospital|Clinic|University|College|School|Academy|Institute|Center|Centre|Hotel|Bank|"
    r"Church|Cathedral|Museum|Library|Bridge|River|Lake|Mountain|Island|County|City|"
    r"Inc|Ltd|LLC|GmbH|AG|SA|SAS|BV|Corp|Corporation|Company|Co|Group|Holdings|Foundation|"
    r"Stra(?:ß|ss)e|Platz|Calle|Rue|Via|Straat|Ulica|Caddesi|Sokak|Platform|Cloud|Studio|"
    r"Services|Systems|Labs|Technologies|Software|Solutions|Partners|Associates)\b")


class Gazetteer:
    """Given names and surnames, case-sensitive as written in the list."""

    def __init__(self, first: frozenset[str], last: frozenset[str]) -> None:
        self.first = first
        self.last = last
        self._lower = frozenset(n.lower() for n in first | last)

    def knows(self, word: str) -> bool:
        return word.strip("'’").lower() in self._lower

    def backs(self, span: str) -> bool:
        """Whether a multi-word NER span reads as a person: one of its words is a known name
        and it does not end like a place or a company ("Victoria Station", "Cloud
        Platform" and "Git Status" have no known name or end in a place word)."""
        words = span.replace("’s", "").replace("'s", "").split()
        return (any(self.knows(w) for w in words)
                and not _PLACE_OR_ORG.match(" " + words[-1]))

    def given_names(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of every known given name standing alone; the caller decides from
        the words before it ("hey", "my sister") whether it names someone."""
        for m in _CAPITALISED_WORD.finditer(text):
            if m.group() in self.first:
                yield m.start(), m.end()

    def spans(self, text: str, stop: frozenset[str]) -> Iterator[tuple[int, int]]:
        """(start, end) of each "Given Surname" or "Title Surname" span in `text`.

        The first word must be a known given name; each following word a capitalised word
        that is no sentence opener or common word (`stop`). With a title ("Dr. Okafor"), the
        name is whatever follows the title.
        """
        capitalised = list(_CAPITALISED_WORD.finditer(text))
        for i, m in enumerate(capitalised):
            if m.group() not in self.first:
                continue
            end, place = m.end(), False
            for nxt in capitalised[i + 1:i + 3]:
                gap = text[end:nxt.start()]
                if gap.strip() or "\n" in gap or nxt.group() in stop:
                    break
                place = place or bool(_PLACE_OR_ORG.match(" " + nxt.group()))
                end = nxt.end()
            if end > m.end() and not place and not _PLACE_OR_ORG.match(text, end):
                yield m.start(), end
        for m in _TITLED.finditer(text):
            words = m.group(1).split()
            if words[0] not in stop:
                yield m.start(1), m.start(1) + (len(m.group(1)) if words[-1] not in stop
                                                else len(words[0]))


@cache
def gazetteer() -> Gazetteer:
    first: set[str] = set()
    last: set[str] = set()
    text = resources.files("warden.safety").joinpath("data/names.txt").read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("F\t"):
            first.add(line[2:])
        elif line.startswith("L\t"):
            last.add(line[2:])
    return Gazetteer(frozenset(first), frozenset(last))
