"""Shared fixtures: one real Warden server (built-in model, SQLite) per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.warden_server import WardenServer


def require_service(available: bool, what: str) -> None:
    """Skip when a local service is missing, but never in CI, where it must be there."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required in CI but is not reachable")
    pytest.skip(f"{what} is not reachable")


@dataclass
class RunningWarden:
    server: WardenServer
    user_key: str
    admin_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="session")
def warden() -> Iterator[RunningWarden]:
    server = WardenServer({"safety": {"enabled": True},
                           "tiers": {"default": {"rpm": 10_000, "tpm": 10_000_000,
                                                 "tokens_per_day": 100_000_000,
                                                 "max_tokens": 512, "max_concurrent": 64}}})
    with server:
        yield RunningWarden(server, server.create_key("user"),
                            server.create_key("admin", role="admin"))
