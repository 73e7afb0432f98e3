"""What a reader sees through character-level disguises: the views the classifiers score.

Attackers and evaders write text a model reads but a filter does not: full-width or
homoglyph letters, zero-width characters, letters spelled apart ("i g n o r e", "k-i-l-l"),
leetspeak ("1gn0r3"), Unicode tag characters, payloads in an encoding (base64, base32, hex,
Ascii85, uuencode, Morse, Braille, NATO: read by `warden.safety.encodings`), and letters
shifted by ROT13 or Atbash or written reversed. `views(text)` returns the canonical view
(everything above undone, encoded spans decoded in place) plus, when the text carries
ROT13, Atbash or reversed text, the whole canonical view decoded that way. Every classifier
scores every view and keeps the maximum, so a toxic or crisis message hidden in base64 is
judged like plain text.

Pure: no models, no I/O.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from warden.safety.encodings import encoded_spans

# Soft hyphen, zero-width and bidi marks, word joiners, BOM, variation selectors.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ufe00-\ufe0f]")
# Unicode tag characters (U+E0020..U+E007E) mirror ASCII and render as nothing.
_TAGS = re.compile("[\U000e0020-\U000e007e]+")
_TAG_NOISE = re.compile("[\U000e0000-\U000e007f\U000e0100-\U000e01ef]")

# Cyrillic and Greek letters that look like Latin ones.
_HOMOGLYPHS = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ɡ": "g", "ӏ": "l", "ԛ": "q", "ԝ": "w", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I",
    "Ј": "J", "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
    "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})
_LOOKALIKE = frozenset(k for k in map(chr, _HOMOGLYPHS))  # keys are code points
_WORD = re.compile(r"\w+")

# Three or more single letters joined by one separator: "i-g-n-o-r-e", "s.y.s.t.e.m",
# "k i l l": the separator alone carries no meaning, so the letters are joined.
_SPELLED = re.compile(r"(?<![\w-])\w(?:[-_.*·/|]\w){2,}(?![\w-])")
_SPACED = re.compile(r"(?<!\S)(?:[^\W\d_] ){2,}[^\W\d_](?!\S)")

_LEET_WORD = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-zA-Z])(?=[\w@$]*[01345789@$])[\w@$]{3,}")
_LEET = str.maketrans("01345789@$", "oieastbgas")
_LEET_CHARS = re.compile(r"[01345789@$]")
_LETTER_LEET_LETTER = re.compile(r"[a-zA-Z][01345789@$]+[a-zA-Z]")
_LEET_HEAD = re.compile(r"[01345789@$][a-zA-Z]{2,}")  # "4ll", "1gnore"
_LEET_TAIL = re.compile(r"[a-zA-Z]{2,}[01345789@$]")  # "th3", "rul3"
_ORDINAL = re.compile(r"(?i)\d(?:st|nd|rd|th)")
_UNIT = re.compile(r"(?i)\d+(?:k|m|g|kb|mb|gb|tb|px|ms|s|x|hz|khz|mhz|ghz|v|w|kw|mm|cm|km|"
                   r"kg|mg|ml|am|pm|d|h|min|fps|p|bit|gen)")


def _leet_word(word: str) -> str:
    """`word` read as letters if it looks like leetspeak ("1gn0r3", "s3tup", "th3") rather
    than a unit, ordinal or model number ("200k", "4th", "2010s", "COVID19")."""
    if len(word) > 24 or _UNIT.fullmatch(word) or _ORDINAL.fullmatch(word):
        return word  # hashes and keys are not words
    letters = sum(c.isalpha() for c in word)
    leet = len(_LEET_CHARS.findall(word))
    if ((leet >= 2 and letters >= 2) or _LETTER_LEET_LETTER.search(word)
            or _LEET_HEAD.fullmatch(word) or _LEET_TAIL.fullmatch(word)):
        return word.translate(_LEET)
    return word


def _fold_homoglyphs(text: str) -> str:
    """Fold look-alike Cyrillic/Greek letters inside words that also hold Latin letters, or
    in any word when the text is mostly Latin: real Russian or Greek words stay intact."""
    if text.isascii() or not any(c in _LOOKALIKE for c in text):
        return text
    letters = [c for c in text if c.isalpha()]
    latin_text = sum("a" <= c.lower() <= "z" for c in letters) > 0.6 * max(1, len(letters))

    def fold(m: re.Match[str]) -> str:
        word = m.group()
        if not any(c in _LOOKALIKE for c in word):
            return word
        has_latin = any("a" <= c.lower() <= "z" for c in word)
        all_lookalike = all(c in _LOOKALIKE or not c.isalpha() for c in word)
        return word.translate(_HOMOGLYPHS) if has_latin or (latin_text and all_lookalike) \
            else word

    return _WORD.sub(fold, text)


def _untag(text: str) -> str:
    if not any("\U000e0000" <= c <= "\U000e01ef" for c in text):
        return text
    text = _TAGS.sub(lambda m: " " + "".join(chr(ord(c) - 0xE0000) for c in m.group()) + " ",
                     text)
    return _TAG_NOISE.sub("", text)


def clean(text: str) -> str:
    """Invisible characters dropped, tag characters read as ASCII, NFKC: no letter changes."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", _untag(text)))


def unmask(text: str) -> str:
    """Homoglyphs folded, spelled-apart letters joined, leetspeak read as letters."""
    t = _fold_homoglyphs(text)
    t = _SPELLED.sub(lambda m: re.sub(r"[-_.*·/|]", "", m.group()), t)
    t = _SPACED.sub(lambda m: m.group().replace(" ", ""), t)
    return _LEET_WORD.sub(lambda m: _leet_word(m.group()), t)


def deobfuscate(text: str) -> str:
    """The text as a reader would see it through the usual character-level disguises."""
    return unmask(clean(text))


# --- encoded payloads -----------------------------------------------------------------------
_NAMES_ROT13 = re.compile(r"(?i)\brot[- ]?13\b|\bcaesar\b")
_NAMES_ATBASH = re.compile(r"(?i)\batbash\b")
_NAMES_REVERSED = re.compile(r"(?i)\b(?:revers\w*|backwards?|mirrored)\b")
# Frequent words of the languages the guard sees: decoded text that is made of them reads.
_COMMON = frozenset("""
the be to of and a in that have i it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who get
which go me when make can like time no just him know take people into year your good some
could them see other than then now look only come its over think also back after use two
how our work first well way even new want because any these give day most us is are was
were been has had did said ignore previous instructions system prompt tell print reveal
rules please now answer say write show me here yes kill die hate stupid idiot myself life
el la de que y en los se del las un por con una para es lo como más pero sus le ya o le la
les de des et un une est que qui dans pour pas sur au avec il elle ce ne je tu vous der die
das und ist nicht ich du sie es ein eine zu den mit sich auf für von dem o os as um uma é
não que do da em para com por mais il di che e la un per non sono una con si del le
""".split())  # noqa: SIM905


_LETTERS = re.compile(r"[^\W\d_]+")


def common_words(text: str) -> int:
    """How many of `text`'s words are among the most frequent words of its languages."""
    return sum(map(_COMMON.__contains__, _LETTERS.findall(text.lower())))


def word_share(text: str) -> float:
    """The share of `text`'s words that are frequent words (0 under three words)."""
    words = _LETTERS.findall(text.lower())
    return sum(map(_COMMON.__contains__, words)) / len(words) if len(words) >= 3 else 0.0


def decoded_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, decoded text) for each encoded payload in `text` (`encodings`)."""
    return [(s.start, s.end, clean(s.decoded)) for s in encoded_spans(text)]


def decode_in_place(text: str, depth: int = 2) -> str:
    """`text` with every encoded payload replaced by what it decodes to (nested up to
    `depth` levels: base64 of hex is still read)."""
    for _ in range(depth):
        spans = decoded_spans(text)
        if not spans:
            break
        parts: list[str] = []
        cursor = 0
        for start, end, decoded in spans:
            parts += [text[cursor:start], " ", decoded, " "]
            cursor = end
        text = "".join(parts) + text[cursor:]
    return text


def canonical(text: str) -> str:
    """The reader's view: obfuscation undone and encoded payloads decoded in place."""
    return unmask(decode_in_place(clean(text)))


def _rot13(text: str) -> str:
    return codecs.decode(text, "rot13")


_ATBASH = str.maketrans("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                        "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA")


def _atbash(text: str) -> str:
    return text.translate(_ATBASH)


# Each cipher: its name, the words that name it (with substrings every such word holds, a
# cheaper test that skips the regex on ordinary text), and its decoder.
_LETTER_CIPHERS = (("rot13", _NAMES_ROT13, ("rot", "caesar"), _rot13),
                   ("atbash", _NAMES_ATBASH, ("atbash",), _atbash))
_REVERSED_HINTS = ("revers", "backward", "mirrored")


def _names(pattern: re.Pattern[str], hints: tuple[str, ...], lower: str, text: str) -> bool:
    """`pattern` occurs in `text` (`lower` is its lower case). The substring test is exact
    only on ASCII: case-insensitive regexes also match "ı" or "ſ" for "i" or "s"."""
    if text.isascii() and not any(h in lower for h in hints):
        return False
    return bool(pattern.search(text))


def letter_readings(plain: str, *, named_counts: bool = True) -> list[tuple[str, str]]:
    """(cipher, reading) for the ROT13 and Atbash readings of `plain` worth scoring: the text
    names the cipher (when `named_counts`), or the reading is far more like words."""
    share = word_share(plain)
    lower = plain.lower()
    out: list[tuple[str, str]] = []
    for name, names, hints, decode in _LETTER_CIPHERS:
        named = named_counts and _names(names, hints, lower, plain)
        if named or share < 0.2:
            reading = decode(plain)
            if named or word_share(reading) >= share + 0.25:
                out.append((name, reading))
    return out


def views(text: str) -> list[str]:
    """The texts to score for `text`: its canonical view, plus the ROT13, Atbash or reversed
    reading when the text names that encoding or reads better that way."""
    plain = decode_in_place(clean(text))
    out = [unmask(plain)]
    out += [unmask(decode_in_place(reading)) for _, reading in letter_readings(plain)]
    if _names(_NAMES_REVERSED, _REVERSED_HINTS, plain.lower(), plain):
        out.append(unmask(plain[::-1]))
    return out
