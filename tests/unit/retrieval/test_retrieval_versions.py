"""Versions, the active pointer, rollback and temporal lookups on SQLite."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from warden.retrieval.versions import PointerCache, VersionError, VersionStore
from warden.store.db import Database


def _ready(store: VersionStore, corpus: str = "c", activate: bool | None = False) -> int:
    version, _ = store.begin(corpus, {})
    store.finalize(version, merkle_root="0" * 64, chunk_count=0, quarantined_count=0,
                   document_count=0, stats={}, activate=activate, actor="t")
    return version


def test_building_versions_are_invisible_and_cannot_be_activated(db: Database) -> None:
    store = VersionStore(db)
    version, run_id = store.begin("c", {"k": 1})
    assert run_id.startswith("run_")
    assert store.get(version).state == "building"
    with pytest.raises(VersionError, match="building, not ready"):
        store.activate(version, "t")
    store.fail(version, "boom")
    assert store.get(version).state == "failed"
    assert store.active("c") is None


def test_first_version_activates_by_default_later_ones_do_not(db: Database) -> None:
    store = VersionStore(db)
    first = _ready(store, activate=None)
    second = _ready(store, activate=None)
    assert store.active("c") == first
    third = _ready(store, activate=True)
    assert store.active("c") == third
    assert second not in store.pointers().values()


def test_rollback_walks_back_through_activations(db: Database) -> None:
    store = VersionStore(db)
    v1, v2, v3 = (_ready(store) for _ in range(3))
    for version in (v1, v2, v3):
        store.activate(version, "t")
    assert store.rollback("c", "t").current == v2
    assert store.rollback("c", "t").current == v1
    with pytest.raises(VersionError, match="no earlier active version"):
        store.rollback("c", "t")
    store.activate(v3, "t")
    assert store.rollback("c", "t").current == v1


def test_activate_is_idempotent_and_per_corpus(db: Database) -> None:
    store = VersionStore(db)
    a = _ready(store, "a")
    b = _ready(store, "b")
    assert store.activate(a, "t").changed
    assert not store.activate(a, "t").changed
    store.activate(b, "t")
    assert store.pointers() == {"a": a, "b": b}
    assert len(store.history("a")) == 1


def test_as_of_answers_with_the_version_active_then(db: Database) -> None:
    store = VersionStore(db)
    v1, v2 = _ready(store), _ready(store)
    before = datetime.now(UTC) - timedelta(seconds=1)
    store.activate(v1, "t")
    time.sleep(0.02)
    between = datetime.now(UTC)
    time.sleep(0.02)
    store.activate(v2, "t")
    assert store.as_of("c", before) is None
    assert store.as_of("c", between) == v1
    assert store.as_of("c", datetime.now(UTC)) == v2
    assert store.as_of("c", between.replace(tzinfo=None)) == v1  # naive means UTC


def test_pointer_cache_sees_a_flip_within_its_ttl(db: Database) -> None:
    store = VersionStore(db)
    v1, v2 = _ready(store), _ready(store)
    store.activate(v1, "t")
    cache = PointerCache(store, ttl=0.2)
    assert cache.get("c") == v1
    store.activate(v2, "t")
    deadline = time.monotonic() + 1.0
    while cache.get("c") != v2:
        assert time.monotonic() < deadline, "a flip must be seen within a second"
        time.sleep(0.01)
    assert PointerCache(store, ttl=5).ttl == 1.0  # never longer than a second


def test_version_ids_are_unique_under_concurrent_begins(db: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = VersionStore(db)
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(lambda _: store.begin("c", {})[0], range(12)))
    assert sorted(ids) == list(range(1, 13))
