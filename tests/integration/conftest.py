"""Fixtures that start external processes for integration tests."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tests.support.procs import free_port, stop_process, wait_for_http
from warden.engine.model_files import builtin_model_path

LLAMA_SERVER_ALIAS = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def llama_cpp_server() -> Iterator[str]:
    """A real `llama_cpp.server` on the built-in SmolLM2 GGUF; yields its `/v1` base URL."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(builtin_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048",
        "--model_alias", LLAMA_SERVER_ALIAS,
    ]
    # The server's log goes to a file, not a pipe: an unread pipe fills up and blocks it.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for_http(f"http://127.0.0.1:{port}/v1/models", timeout=120, proc=proc)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-3000:]
                pytest.fail(f"llama_cpp.server did not start: {exc}\n{tail}")
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop_process(proc)
