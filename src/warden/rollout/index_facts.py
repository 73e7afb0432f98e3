"""Facts about the index versions a challenger adds: their dedup rate (from the ingest
stats) and the prefix-leakage check run on each of them (not only on the active version)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.retrieval.health import check_prefix_leakage
from warden.retrieval.index import IndexManager
from warden.retrieval.versions import VersionStore
from warden.rollout.arms import Arm

if TYPE_CHECKING:
    from warden.retrieval.service import Retrieval


class _Pinned(VersionStore):
    """The version store as the leakage check should see it: `corpus` points at `version`."""

    def __init__(self, store: VersionStore, corpus: str, version: int) -> None:
        super().__init__(store.db)
        self._corpus, self._version = corpus, version

    def active(self, corpus: str) -> int | None:
        return self._version if corpus == self._corpus else super().active(corpus)


def new_versions(champion: Arm, challenger: Arm) -> dict[str, int]:
    return {c: v for c, v in challenger.indexes.items() if champion.indexes.get(c) != v}


def index_facts(retrieval: Retrieval | None, champion: Arm, challenger: Arm) -> dict[str, Any]:
    """Summed over the challenger's new versions: chunks, duplicates removed, leakage rows
    checked and problems found (each version's problems listed, at most 20 each)."""
    versions = new_versions(champion, challenger)
    facts: dict[str, Any] = {"new_versions": sorted(versions.values()), "chunks_total": 0,
                             "duplicates": 0, "leak_rows_checked": 0, "leak_problems": 0,
                             "versions": []}
    if retrieval is None:
        return facts
    for corpus, version in sorted(versions.items()):
        info = retrieval.versions.require_ready(version)
        stats = info.stats
        duplicates = int(stats.get("exact_duplicates", 0)) + \
            int(stats.get("near_duplicates", 0))
        manager = IndexManager(retrieval.searcher.chunks, _Pinned(retrieval.versions, corpus,
                                                                  version), retrieval.config)
        report = check_prefix_leakage(manager, corpus)
        facts["chunks_total"] += int(stats.get("chunks_total", 0))
        facts["duplicates"] += duplicates
        facts["leak_rows_checked"] += report.rows_checked
        facts["leak_problems"] += len(report.problems)
        facts["versions"].append({"corpus": corpus, "version": version,
                                  "dedup_rate": stats.get("dedup_rate"),
                                  "leakage_ok": report.ok, "problems": report.problems})
    return facts
