"""A real `llama_cpp.server` on the built-in SmolLM2 GGUF, for tests that front an upstream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.procs import free_port, stop_process, wait_for_http
from warden.engine.model_files import builtin_model_path

LLAMA_SERVER_ALIAS = "smollm2-135m-instruct"


def start_llama_server(log_path: Path, n_ctx: int = 2048) -> tuple[subprocess.Popen[bytes], str]:
    """Start it and wait until it answers; return (process, its /v1 base URL)."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(builtin_model_path()),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
           "--model_alias", LLAMA_SERVER_ALIAS]
    # A file, not a pipe: an unread pipe fills up and blocks the server. Unbuffered, so tests
    # can read what it printed (e.g. that it saw a client disconnect) while it runs.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/models", timeout=120, proc=proc)
    except (RuntimeError, TimeoutError) as exc:
        stop_process(proc)
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"llama_cpp.server did not start: {exc}\n{tail}") from exc
    return proc, f"http://127.0.0.1:{port}/v1"
