"""Fixtures that start external processes for integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import free_port, stop_process, wait_for_http
from warden.engine.model_files import builtin_model_path

LLAMA_SERVER_ALIAS = "smollm2-135m-instruct"


def _llama_server_log(factory: pytest.TempPathFactory) -> Path:
    return factory.getbasetemp() / "llama_cpp_server.log"


@pytest.fixture(scope="session")
def llama_cpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `llama_cpp.server` on the built-in SmolLM2 GGUF; yields its `/v1` base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(builtin_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048",
        "--model_alias", LLAMA_SERVER_ALIAS,
    ]
    log_path = _llama_server_log(tmp_path_factory)
    # A file, not a pipe: an unread pipe fills up and blocks the server. Unbuffered, so tests
    # can read what it printed (e.g. that it saw a client disconnect) while it runs.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        try:
            wait_for_http(f"http://127.0.0.1:{port}/v1/models", timeout=120, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"llama_cpp.server did not start: {exc}\n{tail}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def llama_cpp_server_log(llama_cpp_server: str,
                         tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The combined stdout/stderr of the `llama_cpp_server` process, growing as it runs."""
    return _llama_server_log(tmp_path_factory)
