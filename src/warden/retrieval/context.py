"""The reader context: retrieved chunks with numbered citations, inside a token budget. Pure.

Zero budget violations by construction: every candidate context is measured with the
caller's tokenizer on the exact string that would be returned (tokenizers are not additive,
so block-by-block sums are not trusted), and a final check removes blocks if it ever fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from warden.retrieval.normalize import text_hash

CountTokens = Callable[[str], int]
SEPARATOR = "\n\n"
ELLIPSIS = " …"


class HitLike(Protocol):
    """Read-only, so frozen dataclasses (search.Hit) satisfy it too."""

    @property
    def chunk_id(self) -> str: ...
    @property
    def doc_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    source: str
    version: int
    score: float
    truncated: bool = False


@dataclass(frozen=True)
class Context:
    text: str
    citations: list[Citation]
    tokens: int
    budget: int
    dropped: list[str] = field(default_factory=list)  # chunk ids left out for lack of room


def context_budget(n_ctx: int, prompt_tokens: int, max_tokens: int, configured: int,
                   reserve: int = 0) -> int:
    """What the context may use: the configured cap, within what the model window leaves."""
    return max(0, min(configured, n_ctx - prompt_tokens - max_tokens - reserve))


def _header(n: int, hit: HitLike) -> str:
    return f"[{n}] {hit.source} (chunk {hit.chunk_id[:12]}, v{hit.version})\n"


def _fit_prefix(text: str, fits: Callable[[str], bool]) -> str | None:
    """The longest word-boundary prefix of text (plus an ellipsis) that fits, or None."""
    cuts = [i for i, ch in enumerate(text) if ch.isspace()] + [len(text)]
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:  # tokens grow with the prefix, so bisect on the cut position
        mid = (lo + hi) // 2
        candidate = text[:cuts[mid]].rstrip() + ELLIPSIS
        if cuts[mid] > 0 and fits(candidate):
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def build_context(hits: Sequence[HitLike], budget: int, count_tokens: CountTokens, *,
                  truncate_last: bool = True) -> Context:
    """Highest score first, duplicates (same chunk or same text) once, never over budget."""
    ordered = sorted(enumerate(hits), key=lambda item: (-item[1].score, item[0]))
    seen: set[str] = set()
    blocks: list[str] = []
    citations: list[Citation] = []
    dropped: list[str] = []

    def render(extra: str | None = None) -> str:
        return SEPARATOR.join([*blocks, extra] if extra is not None else blocks)

    full = False
    for _, hit in ordered:
        key = text_hash(hit.text)
        if hit.chunk_id in seen or key in seen:
            continue
        seen.update((hit.chunk_id, key))
        if full or budget <= 0:
            dropped.append(hit.chunk_id)
            continue
        n = len(citations) + 1
        header = _header(n, hit)
        block = header + hit.text
        if count_tokens(render(block)) <= budget:
            blocks.append(block)
            citations.append(Citation(n, hit.chunk_id, hit.doc_id, hit.source, hit.version,
                                      hit.score))
            continue
        if truncate_last:
            def fits(text: str, head: str = header) -> bool:
                return count_tokens(render(head + text)) <= budget

            body = _fit_prefix(hit.text, fits)
            if body is not None:
                blocks.append(header + body)
                citations.append(Citation(n, hit.chunk_id, hit.doc_id, hit.source,
                                          hit.version, hit.score, truncated=True))
                full = True  # the budget is used up to the last word
                continue
        dropped.append(hit.chunk_id)

    text = render()
    tokens = count_tokens(text) if text else 0
    while blocks and tokens > budget:  # only a non-monotone tokenizer can get here
        blocks.pop()
        dropped.append(citations.pop().chunk_id)
        text = render()
        tokens = count_tokens(text) if text else 0
    return Context(text, citations, tokens, budget, dropped)
