"""Encoded text: where a message carries words in an encoding, and what they say.

Attackers hide an instruction or a slur from a filter by writing it in an encoding the model
can read back: base64, base32, hex, Ascii85, uuencode, Morse, Braille, the NATO alphabet,
Unicode tag characters. Each reader here accepts only its own format and returns text only
when the bytes read as text (printable, mostly letters), so hashes, keys, IDs and images
pass untouched. A short blob ("QWJpZA==", four letters) is read only when its format marks
it (padding) or the message itself names an encoding or asks for decoding: a short run of
letters or digits is too often a word, an ID or a number.

ROT13 and Atbash change letters in place, so they are whole-text readings (`textviews`),
not spans.

Pure: no models, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class EncodedSpan:
    start: int      # offsets in the text given to `encoded_spans`
    end: int
    encoding: str   # "base64", "hex", "morse", ...
    decoded: str


# A message that talks about encodings: short blobs in it are worth reading.
NAMES_ENCODING = re.compile(  # on lowercased text
    r"\b(?:en|de)cod(?:e|ed|es|ing|er)\b|\bbase[ -]?(?:16|32|64|85)\b|\bascii[ -]?85\b|"
    r"\bhex(?:adecimal)?\b|\buu[ -]?encod\w*|\brot[ -]?13\b|\batbash\b|\bcaesar\b|"
    r"\bcipher\w*|\bbraille\b|\bmorse\b|\bnato\b|\bphonetic\s+alphabet\b")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def readable(raw: bytes, minimum: int = 6) -> str | None:
    """Decoded bytes as text if they read as words or markup (not a hash, key or image)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _CONTROL.search(text):
        return None
    text = text.strip()
    body = [c for c in text if not c.isspace()]
    if len(text) < minimum or not body:
        return None
    letters = sum(c.isalpha() for c in body) / len(body)
    # Short decodings must be nearly all letters; longer ones may be markup or code.
    return text if letters >= (0.75 if len(text) < 12 else 0.5) else None


# --- the readers: each takes a candidate blob, returns the decoded text or None ------------
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{4,}={0,2}(?![A-Za-z0-9+/=_-])")
# Where no encoding is named, a blob must be long or padded (see `_b64`): the regex engine
# then skips ordinary words instead of one Python call each.
_BASE64_MARKED = re.compile(r"(?<![A-Za-z0-9+/_-])(?:[A-Za-z0-9+/_-]{16,}={0,2}|"
                            r"[A-Za-z0-9+/_-]{2,15}={1,2})(?![A-Za-z0-9+/=_-])")
_BASE32 = re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{4,}={0,6}(?![A-Za-z0-9=])")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}[ :]?){3,}(?![0-9A-Za-z])")
_A85_DELIMITED = re.compile(r"<~[!-uz\s]{4,}~>")
_A85_TOKEN = re.compile(r"(?<!\S)[!-uz]{5,}(?!\S)")
# uuencode lines: a length character, then four characters per three bytes.
_UU_CHARS = frozenset(map(chr, range(0x20, 0x61)))   # a uuencoded line's alphabet
_UU_LINE = re.compile(r"(?m)(?:^|(?<=: )|(?<=\? ))([!-M])([ -`]+)$")
_BRAILLE = re.compile(r"[\u2800-\u28ff](?:[\u2800-\u28ff ]*[\u2800-\u28ff])?")
_MORSE = re.compile(r"(?<![\w.-])[.-]{1,6}(?:(?: / | |/)[.-]{1,6}){2,}(?![\w.-])")
# Base64 of text nearly always has a digit, "+", "/", "=" or a capital after a small letter.
_B64_SHAPE = re.compile(r"[0-9+/=_-]|[a-z][A-Z]")


def _b64(blob: str, named: bool) -> str | None:
    padded = blob.endswith("=")
    if not (_B64_SHAPE.search(blob) or (named and sum(c.isupper() for c in blob) >= 2
                                        and any(c.islower() for c in blob))):
        return None  # a plain word ("internationalization"), not an encoding
    if len(blob) < 16 and not (padded or named):
        return None
    body = blob.rstrip("=")
    for alphabet in (None, b"-_"):
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=alphabet,
                                   validate=True)
        except (binascii.Error, ValueError):
            continue
        if decoded := readable(raw, 6 if len(blob) >= 16 else 3):
            return decoded
    return None


def _b32(blob: str, named: bool) -> str | None:
    if len(blob) < 8 or (len(blob) < 16 and not (blob.endswith("=") or named)):
        return None
    body = blob.rstrip("=")
    try:
        return readable(base64.b32decode(body + "=" * (-len(body) % 8)), 3)
    except (binascii.Error, ValueError):
        return None


def _hex(blob: str, named: bool) -> str | None:
    digits = re.sub(r"[\s:]", "", blob)
    # A short run of digits is a number or an ID: read it only where encodings are talked of.
    if len(digits) < 16 and not (named or (len(digits) >= 8
                                           and re.search(r"[A-Fa-f]", digits))):
        return None
    try:
        return readable(bytes.fromhex(digits), 3)
    except ValueError:
        return None


def _a85(blob: str, named: bool) -> str | None:
    delimited = blob.startswith("<~")
    blob = blob if delimited else blob.rstrip(".,;:!?")
    # Undelimited, every word is valid Ascii85: a real blob mixes in symbols and digits.
    if not (delimited or (named and re.search(r"[!-/:-@\[-`]", blob)
                              and re.search(r"[0-9!-/:-@\[-`]", blob[1:-1] or "x"))):
        return None
    try:
        raw = base64.a85decode(blob, adobe=delimited, ignorechars=b" \t\n\r")
    except (binascii.Error, ValueError):
        return None
    return readable(raw, 3)


_BRAILLE_LETTERS = dict(zip("⠁⠃⠉⠙⠑⠋⠛⠓⠊⠚⠅⠇⠍⠝⠕⠏⠟⠗⠎⠞⠥⠧⠺⠭⠽⠵", "abcdefghijklmnopqrstuvwxyz",
                            strict=True))
_BRAILLE_DIGITS = dict(zip("⠁⠃⠉⠙⠑⠋⠛⠓⠊⠚", "1234567890", strict=True))
_BRAILLE_MARKS = {"⠲": ".", "⠂": ",", "⠄": "'", "⠤": "-", "⠌": "/", "⠖": "!", "⠦": "?",
                  "⠒": ":", "⠆": ";", "⠶": "(", " ": " "}


def _braille(blob: str, named: bool) -> str | None:
    """Grade-1 (letter by letter) Braille with the capital and number signs."""
    out: list[str] = []
    capital = number = False
    for cell in blob:
        if cell == "⠠":
            capital = True
            continue
        if cell == "⠼":
            number = True
            continue
        if number and cell in _BRAILLE_DIGITS:
            out.append(_BRAILLE_DIGITS[cell])
            continue
        number = False
        letter = _BRAILLE_LETTERS.get(cell) or _BRAILLE_MARKS.get(cell)
        if letter is None:
            return None  # contracted (grade-2) Braille: not read letter by letter
        out.append(letter.upper() if capital else letter)
        capital = False
    text = "".join(out).strip()
    return text if sum(c.isalpha() for c in text) >= 3 else None


_MORSE_CODE = dict(zip(
    ".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - ..- ...- "  # noqa: SIM905
    ".-- -..- -.-- --.. .---- ..--- ...-- ....- ..... -.... --... ---.. ----. -----".split(),
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890", strict=True))


def _morse(blob: str, named: bool) -> str | None:
    words = [w.split() for w in re.split(r"\s*/\s*", blob)]
    codes = [c for w in words for c in w]
    # Ellipses and dash rules are runs of one symbol: Morse mixes dots and dashes.
    if len(codes) < 3 or len(set(codes)) < 2 or not any("." in c and "-" in c for c in codes):
        return None
    if any(c not in _MORSE_CODE for c in codes):
        return None
    text = " ".join("".join(_MORSE_CODE[c] for c in w) for w in words if w)
    return text if sum(c.isalpha() for c in text) >= 3 else None


_NATO_WORDS = {w.lower(): w[0] for w in (  # noqa: SIM905
    "Alfa Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliett Juliet Kilo Lima "
    "Mike November Oscar Papa Quebec Romeo Sierra Tango Uniform Victor Whiskey Whisky Xray "
    "X-ray Yankee Zulu").split()}
_NATO_STEMS = frozenset(w[:5] for w in _NATO_WORDS)  # substring tests, cheaper than words
_NATO_ALTERNATIVES = "|".join(map(re.escape, sorted(_NATO_WORDS, key=len, reverse=True)))
_NATO = re.compile(rf"(?i)\b(?:{_NATO_ALTERNATIVES})(?:[ ,/]+(?:{_NATO_ALTERNATIVES})){{3,}}\b")


def _nato(blob: str, named: bool) -> str | None:
    return "".join(_NATO_WORDS[w.lower()] for w in re.split(r"[ ,/]+", blob) if w)


def _uu(text: str) -> list[tuple[int, int, str]]:
    """uuencoded lines whose length character matches their length (binascii.b2a_uu)."""
    out: list[tuple[int, int, str]] = []
    for m in _UU_LINE.finditer(text):
        size = ord(m.group(1)) - 32
        full = 4 * ((size + 2) // 3)  # transports often strip the trailing spaces (zeros)
        body = m.group(2).rstrip()
        if not 4 * size // 3 - 2 <= len(body) <= full:
            continue
        try:
            raw = binascii.a2b_uu(m.group(1) + body.ljust(full) + "\n")
        except binascii.Error:
            continue
        if decoded := readable(raw, 3):
            out.append((m.start(), m.end(), decoded))
    return out


def _uu_tail(text: str) -> bool:
    """Some line ends in four uuencode characters (a slice per line: a multiline regex
    tried every position of the text)."""
    return any(len(line) >= 4 and _UU_CHARS.issuperset(line[-4:])
               for line in text.split("\n"))


Reader = Callable[[str, bool], str | None]
_NAME_HINTS = ("cod", "base", "ascii", "hex", "uu", "rot", "atbash", "caesar", "cipher",
               "braille", "morse", "nato", "phonetic")


def _readers(text: str, lower: str, named: bool
             ) -> list[tuple[str, re.Pattern[str], Reader]]:
    """The readers worth running on `text`, strictest first; cheap checks skip the rest
    (ordinary prose pays for two or three regex scans, not eight)."""
    out: list[tuple[str, re.Pattern[str], Reader]] = []
    if not text.isascii() and _BRAILLE.search(text):
        out.append(("braille", _BRAILLE, _braille))
    if ".-" in text or "-." in text:
        out.append(("morse", _MORSE, _morse))
    if sum(w in lower for w in _NATO_STEMS) >= 2:
        out.append(("nato", _NATO, _nato))
    if "<~" in text:
        out.append(("ascii85", _A85_DELIMITED, _a85))
    out += [("hex", _HEX, _hex), ("base32", _BASE32, _b32),
            ("base64", _BASE64 if named else _BASE64_MARKED, _b64)]
    if named:  # undelimited Ascii85 is read only where encodings are talked of
        out.append(("ascii85", _A85_TOKEN, _a85))
    return out


def _names_an_encoding(lower: str) -> bool:
    return any(h in lower for h in _NAME_HINTS) and bool(NAMES_ENCODING.search(lower))


@lru_cache(maxsize=1024)
def encoded_spans(text: str) -> tuple[EncodedSpan, ...]:
    """Each span of `text` that carries readable text in an encoding, strictest reader first
    (a span one reader took is not read again by a looser one). Cached: every head reads
    the same windows of a request."""
    # A message that is one blob and nothing else marks it as much as naming the encoding.
    lower = text.lower()
    named = _names_an_encoding(lower) or not re.search(r"\s", text.strip())
    found = [EncodedSpan(s, e, "uuencode", d) for s, e, d in _uu(text)] \
        if _uu_tail(text) else []
    for encoding, pattern, read in _readers(text, lower, named):
        for m in pattern.finditer(text):
            if any(f.start < m.end() and m.start() < f.end for f in found):
                continue
            if decoded := read(m.group().strip(), named):
                found.append(EncodedSpan(m.start(), m.end(), encoding, decoded))
    return tuple(sorted(found, key=lambda f: f.start))
