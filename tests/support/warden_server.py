"""A real `warden serve` subprocess for integration tests, with its own data dir and config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.procs import free_port, stop_process, wait_for_http

WARDEN = [sys.executable, "-m", "warden.cli.main"]
MODEL = "smollm2-135m-instruct"


class WardenServer:
    """Start with `with WardenServer(config) as server:`; keys via `server.create_key()`."""

    def __init__(self, config: dict[str, Any] | None = None, workdir: Path | None = None,
                 port: int | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="warden-test-"))
        self.port = port or free_port()
        config = dict(config or {})
        # The guard models take seconds to load; tests about other things start without them.
        config.setdefault("safety", {"enabled": False})
        config.setdefault("store", {}).setdefault("url",
                                                  f"sqlite:///{self.workdir}/warden.db")
        config.setdefault("server", {})["port"] = self.port
        self.config_path = self.workdir / f"warden-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = self.workdir / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        env["WARDEN_CONFIG"] = str(self.config_path)
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*WARDEN, *args], env=self.env(), cwd=self.workdir,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"warden {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def create_key(self, name: str = "test", role: str = "user", tier: str | None = None) -> str:
        args = ["keys", "create", "--name", name, "--role", role]
        if tier:
            args += ["--tier", tier]
        return self.cli(*args).stdout.strip()

    def start(self, timeout: float = 120, wait_path: str = "/readyz") -> WardenServer:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([*WARDEN, "serve"], env=self.env(), cwd=self.workdir,
                                     stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{self.base_url}{wait_path}", timeout=timeout, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"warden did not start: {exc}\n{self.log()[-4000:]}") from exc
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=30)

    def client(self, key: str | None = None, timeout: float = 120) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> WardenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
