"""Weighted reciprocal-rank fusion and the per-document cap. Pure."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def weighted_rrf(rankings: Sequence[tuple[float, Sequence[K]]], rrf_k: int = 60
                 ) -> list[tuple[K, float]]:
    """Fuse ranked lists: score(x) = sum over lists of weight / (rrf_k + rank), rank from 1.

    Ties keep the order of first appearance (list by list), so the result is deterministic.
    """
    scores: dict[K, float] = {}
    for weight, ranking in rankings:
        if weight <= 0:
            continue
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
    first_seen = {key: i for i, key in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))


def cap_per_document(items: Iterable[T], document_of: Callable[[T], str], cap: int,
                     limit: int | None = None) -> list[T]:
    """Keep items in order, at most `cap` per document, stopping after `limit` items."""
    seen: dict[str, int] = {}
    kept: list[T] = []
    for item in items:
        doc = document_of(item)
        if seen.get(doc, 0) < cap:
            seen[doc] = seen.get(doc, 0) + 1
            kept.append(item)
            if limit is not None and len(kept) >= limit:
                break
    return kept
