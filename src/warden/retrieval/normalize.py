"""Text normalization and the content address of a chunk.

Normalizing before hashing makes the address stable across trivial differences (CRLF, NBSP,
zero-width characters, trailing blanks), so the same passage from two exports is stored once.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Literal

Domain = Literal["prose", "code"]

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
# C0/C1 control characters except tab and newline: they carry no meaning and hide text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INLINE_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def normalize(text: str, domain: Domain = "prose") -> str:
    """NFKC, LF line ends, no control or zero-width characters, tidy whitespace.

    Prose collapses runs of spaces; code keeps indentation (it carries meaning there).
    Idempotent: normalize(normalize(t)) == normalize(t).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Remove invisible characters before composing, so a removal cannot enable a composition
    # that a second pass would make (which would break idempotence).
    text = _CONTROL.sub("", _ZERO_WIDTH.sub("", text))
    text = unicodedata.normalize("NFKC", text)
    if domain == "prose":
        text = "\n".join(_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    else:
        text = _TRAILING_SPACE.sub("", text.expandtabs(4))
    text = _MANY_BLANK_LINES.sub("\n\n", text)
    return text.strip("\n").strip() if domain == "prose" else text.strip("\n")


def content_hash(normalized_text: str) -> str:
    """SHA-256 hex of the normalized chunk text: the chunk's address and its id."""
    return hashlib.sha256(normalized_text.encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
