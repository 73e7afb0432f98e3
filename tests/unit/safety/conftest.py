"""Shared fixtures for the safety detector tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safety_data import labelled

from warden.store.db import Database, open_database


@pytest.fixture(scope="session")
def pii_rows() -> list[dict[str, Any]]:
    return labelled("pii")


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite store, migrated (switch and trigger tests)."""
    database = open_database(f"sqlite:///{tmp_path}/w.db")
    yield database
    database.dispose()
