"""Token-aware chunking with overlap; chunk boundaries prefer structure over token counts.

Pure: text in, chunk drafts out. Sizes come from a per-domain profile (prose or code) and
are counted by the injected tokenizer, so a chunk fits the embedder's window by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from warden.config.retrieval import ChunkingProfile
from warden.retrieval.normalize import Domain, content_hash, normalize
from warden.retrieval.tokens import Span, Tokenizer

# Look for a good boundary only in the last part of a window: earlier cuts waste capacity.
_SEARCH_FROM = 0.5
_SENTENCE_END = frozenset(".!?。")


@dataclass(frozen=True)
class Section:
    """A run of one document's text that shares a heading path and a domain."""

    text: str
    domain: Domain = "prose"
    heading_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkDraft:
    text: str          # normalized; what BM25 indexes and what the reader sees
    hash: str          # SHA-256 of text: the content address
    n_tokens: int
    domain: Domain
    section: str       # heading path joined with " > "
    ordinal: int       # position within its document


def _boundary_score(text: str, spans: list[Span], k: int, domain: Domain) -> float:  # noqa: PLR0911
    """How good a cut between token k-1 and token k is (higher is better)."""
    gap = text[spans[k - 1][1]:spans[k][0]]
    if "\n\n" in gap:
        return 3.0
    if domain == "code":
        if "\n" in gap:
            line_start = text.rfind("\n", 0, spans[k][0]) + 1
            top_level = spans[k][0] == line_start  # not indented: a new definition starts
            return 2.5 if top_level else 2.0
        return 0.0
    previous = text[spans[k - 1][0]:spans[k - 1][1]]
    if previous and previous[-1] in _SENTENCE_END and gap:
        return 2.0
    if "\n" in gap:
        return 1.5
    if previous in {";", ":", ","} and gap:
        return 0.5
    return 0.0


def _best_cut(text: str, spans: list[Span], start: int, limit: int, domain: Domain) -> int:
    """The token index to end the window [start, limit) at; the latest of the best scores."""
    lowest = start + max(1, int((limit - start) * _SEARCH_FROM))
    best_k, best_score = limit, -1.0
    for k in range(limit - 1, lowest - 1, -1):
        score = _boundary_score(text, spans, k, domain)
        if score > best_score:
            best_k, best_score = k, score
        if score >= 3.0:
            break
    return best_k if best_score > 0 else limit


def _snap_start(text: str, spans: list[Span], lo: int, hi: int, domain: Domain) -> int:
    """Start the overlap at the best structural boundary in [lo, hi) (earliest on ties, to
    keep as much overlap as allowed); at lo when there is none."""
    best_k, best_score = lo, 1.0
    for k in range(max(lo, 1), hi):
        score = _boundary_score(text, spans, k, domain)
        if score > best_score:
            best_k, best_score = k, score
    return best_k


def split_section(section: Section, tokenizer: Tokenizer, profile: ChunkingProfile
                  ) -> list[str]:
    """Chunk texts of one section, each at most profile.max_tokens tokens."""
    text = section.text
    spans = tokenizer.spans(text)
    if not spans:
        return []
    size, overlap = profile.max_tokens, profile.overlap_tokens
    if len(spans) <= size:
        return [text[spans[0][0]:spans[-1][1]]]
    pieces: list[str] = []
    start = 0
    while True:
        limit = min(start + size, len(spans))
        end = limit if limit == len(spans) else _best_cut(text, spans, start, limit,
                                                          section.domain)
        pieces.append(text[spans[start][0]:spans[end - 1][1]])
        if end >= len(spans):
            return pieces
        nxt = max(end - overlap, start + 1)
        start = _snap_start(text, spans, nxt, end, section.domain) if overlap else end


def chunk_document(sections: list[Section], tokenizer: Tokenizer,
                   profiles: dict[str, ChunkingProfile]) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    for section in sections:
        profile = profiles[section.domain]
        for piece in split_section(section, tokenizer, profile):
            text = normalize(piece, section.domain)
            if not text:
                continue
            drafts.append(ChunkDraft(text=text, hash=content_hash(text),
                                     n_tokens=tokenizer.count(text), domain=section.domain,
                                     section=" > ".join(section.heading_path),
                                     ordinal=len(drafts)))
    return drafts


def context_prefix(title: str, section: str, tokenizer: Tokenizer, max_tokens: int) -> str:
    """Title and section path for the embedding text only, cut to max_tokens tokens."""
    parts = [p for p in (title.strip(), section.strip()) if p]
    if not parts or max_tokens == 0:
        return ""
    prefix = " — ".join(dict.fromkeys(parts))
    spans = tokenizer.spans(prefix)
    if len(spans) > max_tokens:
        prefix = prefix[:spans[max_tokens - 1][1]]
    return prefix


def embedding_text(prefix: str, chunk_text: str) -> str:
    return f"{prefix}\n{chunk_text}" if prefix else chunk_text
