"""Paging end to end: a kill switch turned off pages someone, and turning it on resolves it.

Real processes: `warden serve`, Prometheus (Debian's binary; scrape and rule evaluation every
second) scraping it with a key, and Alertmanager routing with deploy/prometheus/
alertmanager.yaml. The pager is a small HTTP server in this test standing in for the pager's
webhook. The rules are deploy/prometheus/alerts.yaml with KillSwitchOff's `for` cut from 1m
to 2s so the test runs in well under a minute.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.procs import free_port, stop_process, wait_for_http
from tests.support.warden_server import WardenServer
from tests.unit.deploy.tools import DEPLOY, require_tool

pytestmark = pytest.mark.integration

ALERT = "KillSwitchOff"
WAIT_S = 45.0


class Pager:
    """Records every webhook notification Alertmanager posts, by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        pager = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with pager._lock:
                    pager.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def alerts(self, path: str, status: str) -> list[dict[str, Any]]:
        with self._lock:
            return [alert for p, note in self.received if p == path
                    for alert in note["alerts"] if alert["status"] == status]

    def __enter__(self) -> Pager:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def fast_rules(workdir: Path) -> Path:
    """alerts.yaml as shipped, except KillSwitchOff waits 2 s instead of 1 minute."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    found = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == ALERT]
    assert len(found) == 1, f"{ALERT} must be defined once in alerts.yaml"
    found[0]["for"] = "2s"
    path = workdir / "alerts.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


def alertmanager_config(workdir: Path, pager: Pager) -> Path:
    """The shipped routing, pointed at the test's pager, with timings in seconds."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "alertmanager.yaml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"{pager.url}/{receiver['name']}"
    for route in [config["route"], *config["route"]["routes"]]:
        route.update(group_wait="1s", group_interval="1s")
    path = workdir / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def prometheus_config(workdir: Path, warden_port: int, key: str, am_port: int,
                      rules: Path) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{
            "job_name": "warden", "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials": key},
            "static_configs": [{"targets": [f"127.0.0.1:{warden_port}"]}],
        }],
    }
    path = workdir / "prometheus.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Daemon:
    """A background process with its output in a log file, stopped in teardown."""

    def __init__(self, name: str, args: list[str], workdir: Path, ready_url: str) -> None:
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_http(ready_url, timeout=30, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"{name} did not start: {exc}\n{self.tail()}") from exc

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        stop_process(self.proc, grace=10)


def stop_all(daemons: list[Daemon]) -> None:
    for daemon in reversed(daemons):
        daemon.stop()


def wait_for(check: Callable[[], list[dict[str, Any]]], what: str,
             logs: Callable[[], str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"no {what} within {WAIT_S:.0f}s\n{logs()}")


@pytest.fixture
def stack() -> Iterator[tuple[WardenServer, str, Pager, Callable[[], str]]]:
    prometheus = require_tool("prometheus")
    alertmanager = require_tool("prometheus-alertmanager", "alertmanager")
    workdir = Path(tempfile.mkdtemp(prefix="warden-paging-"))
    daemons: list[Daemon] = []
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        server = cleanup.enter_context(WardenServer(workdir=workdir))
        pager = cleanup.enter_context(Pager())
        # Stopped before Warden: Prometheus' keep-alive scrape connection would otherwise
        # hold Warden's graceful drain open for its full timeout.
        cleanup.callback(stop_all, daemons)
        admin = server.create_key("oncall", role="admin")
        scraper = server.create_key("prometheus")
        am_port, prom_port = free_port(), free_port()
        daemons.append(Daemon("alertmanager", [
            alertmanager, f"--config.file={alertmanager_config(workdir, pager)}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # no gossip port: a single test instance
        ], workdir, f"http://127.0.0.1:{am_port}/-/ready"))
        rules = fast_rules(workdir)
        daemons.append(Daemon("prometheus", [
            prometheus,
            f"--config.file={prometheus_config(workdir, server.port, scraper, am_port, rules)}",
            f"--storage.tsdb.path={workdir / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ], workdir, f"http://127.0.0.1:{prom_port}/-/ready"))

        def logs() -> str:
            return "\n".join(f"--- {d.log.name}\n{d.tail()}" for d in daemons)

        yield server, admin, pager, logs


def test_kill_switch_off_pages_and_on_resolves(
        stack: tuple[WardenServer, str, Pager, Callable[[], str]]) -> None:
    server, admin, pager, logs = stack
    with server.client(admin) as http:
        flipped = http.post("/admin/switches/retrieval",
                            json={"on": False, "reason": "paging test: poisoned source"})
        assert flipped.status_code == 200 and flipped.json()["on"] is False, flipped.text
        paged = wait_for(lambda: [a for a in pager.alerts("/pager", "firing")
                                  if a["labels"]["alertname"] == ALERT],
                         "page for KillSwitchOff", logs)
        assert paged[0]["labels"] == {"alertname": ALERT, "severity": "page",
                                      "switch": "retrieval"}
        assert paged[0]["annotations"]["runbook_url"] == f"docs/runbooks/{ALERT}.md"
        assert paged[0]["annotations"]["summary"] == "Kill switch retrieval is off"

        restored = http.post("/admin/switches/retrieval",
                             json={"on": True, "reason": "paging test: source removed"})
        assert restored.status_code == 200 and restored.json()["on"] is True, restored.text
        resolved = wait_for(lambda: [a for a in pager.alerts("/pager", "resolved")
                                     if a["labels"]["alertname"] == ALERT],
                            "resolved notification for KillSwitchOff", logs)
        assert resolved[0]["labels"]["switch"] == "retrieval"

    # Nothing else fired (page or ticket) while the stack ran.
    others = {a["labels"]["alertname"] for path, note in pager.received
              for a in note["alerts"] if a["labels"]["alertname"] != ALERT}
    assert not others, f"unexpected alerts during the test: {others}"
