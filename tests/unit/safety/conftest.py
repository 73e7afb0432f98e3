"""Shared fixtures for the safety detector tests."""

from __future__ import annotations

from typing import Any

import pytest
from safety_data import labelled


@pytest.fixture(scope="session")
def pii_rows() -> list[dict[str, Any]]:
    return labelled("pii")


