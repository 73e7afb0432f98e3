"""Fixtures every unit test may use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from warden.store.db import Database, open_database


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite store, migrated to the newest schema."""
    database = open_database(f"sqlite:///{tmp_path}/warden.db")
    yield database
    database.dispose()
