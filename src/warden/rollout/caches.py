"""Clearing the caches that could serve a rolled-back arm, each with its outcome.

    cleared      the cache was emptied
    not_needed   nothing in it can be stale (the reason says why)
    unsupported  the component offers no way to clear it (the reason says what that means)

A rollback reports every outcome as evidence; nothing is claimed cleared that was not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Outcome = tuple[str, str]  # (cleared | not_needed | unsupported, detail)


@dataclass(frozen=True)
class CacheClearer:
    steps: Mapping[str, Callable[[], Outcome]]

    def clear_all(self) -> dict[str, dict[str, str]]:
        report = {}
        for name, clear in self.steps.items():
            try:
                outcome, detail = clear()
            except Exception as exc:
                outcome, detail = "failed", f"{type(exc).__name__}: {exc}"[:300]
            report[name] = {"outcome": outcome, "detail": detail}
        return report


def pointer_cache(invalidate: Callable[[], None]) -> Callable[[], Outcome]:
    def clear() -> Outcome:
        invalidate()
        return "cleared", "active-pointer cache emptied: the next query reads the store"

    return clear


def index_cache() -> Callable[[], Outcome]:
    def clear() -> Outcome:
        return "not_needed", ("loaded indexes are keyed by version id and Merkle root and "
                              "never change; the pointer decides which one is searched")

    return clear


def engine_prefix_cache(engine: Any) -> Callable[[], Outcome]:
    """Engines that can drop their cached prompt prefixes expose clear_prefix_cache()."""

    def clear() -> Outcome:
        method = getattr(engine, "clear_prefix_cache", None)
        if callable(method):
            if method() is False:
                return "failed", "the engine did not confirm the clear (not running?)"
            return "cleared", "cached prompt prefixes dropped"
        return "unsupported", ("the engine offers no clear_prefix_cache(); its prefix reuse "
                               "needs an exact token match per tenant, so a cached prefix of "
                               "another arm's prompt is never reused for this one")

    return clear
