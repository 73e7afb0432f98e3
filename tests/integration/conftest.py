"""Fixtures that start external processes for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.llama_server import LLAMA_SERVER_ALIAS, start_llama_server
from tests.support.procs import stop_process

__all__ = ["LLAMA_SERVER_ALIAS"]


def _llama_server_log(factory: pytest.TempPathFactory) -> Path:
    return factory.getbasetemp() / "llama_cpp_server.log"


@pytest.fixture(scope="session")
def llama_cpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `llama_cpp.server` on the built-in SmolLM2 GGUF; yields its `/v1` base URL."""
    try:
        proc, url = start_llama_server(_llama_server_log(tmp_path_factory))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def llama_cpp_server_log(llama_cpp_server: str,
                         tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The combined stdout/stderr of the `llama_cpp_server` process, growing as it runs."""
    return _llama_server_log(tmp_path_factory)
