"""The dashboards and alert rules in deploy/ read metrics a real `warden serve` exports.

Starts one server (built-in model, SQLite), sends a generation so the histograms have
samples, scrapes /metrics with an admin key, and compares the names there with the names the
PromQL in deploy/ reads (histogram _bucket/_sum/_count folded into the family name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.warden_server import MODEL, WardenServer
from tests.unit.deploy.promql_names import family, metric_names

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONTRACT = yaml.safe_load((DEPLOY / "pending-metrics.yaml").read_text())
PENDING = set(CONTRACT["pending"])
EXTERNAL = set(CONTRACT["external"])
MADE_BY_PROMETHEUS = {"up"}
_EXPOSITION_NAME = re.compile(r"^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)", re.M)


def exported_names(exposition: str) -> set[str]:
    """Families in a Prometheus text exposition: HELP/TYPE lines and samples, suffixes folded
    (a counter's `_created` too, so `x_total` and `x_created` both read as `x_total`)."""
    names = set()
    for name in _EXPOSITION_NAME.findall(exposition):
        names.add(family(name))
        if name.endswith("_created"):
            names.add(name[: -len("_created")] + "_total")
    return names


def dashboard_metrics(name: str) -> set[str]:
    board = json.loads((DEPLOY / "grafana" / name).read_text())
    return {family(n) for p in board["panels"] for t in p.get("targets", [])
            for n in metric_names(t["expr"])}


def alert_rule_metrics() -> tuple[set[str], set[str]]:
    """(names the rules read, names the rules record themselves)."""
    rules = [r for g in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
             ["groups"] for r in g["rules"]]
    read = {family(n) for r in rules for n in metric_names(r["expr"])}
    return read, {r["record"] for r in rules if "record" in r}


@pytest.fixture(scope="module")
def exported() -> Iterator[set[str]]:
    with WardenServer() as server:
        admin = server.create_key("dashboards", role="admin")
        with server.client(admin) as http:
            generated = http.post("/v1/generate", json={"model": MODEL, "prompt": "Hello",
                                                        "max_tokens": 4, "stream": True})
            assert generated.status_code == 200, generated.text
            scrape = http.get("/metrics")
            assert scrape.status_code == 200, scrape.text
        yield exported_names(scrape.text)


def test_the_scrape_has_the_serving_histograms(exported: set[str]) -> None:
    assert {"warden_requests_total", "warden_time_to_first_token_seconds",
            "warden_switch_on"} <= exported


def test_every_serving_dashboard_metric_is_exported(exported: set[str]) -> None:
    missing = dashboard_metrics("warden-serving.json") - exported - MADE_BY_PROMETHEUS
    assert not missing, f"warden-serving.json queries metrics nobody exports: {sorted(missing)}"


def test_release_dashboard_reads_only_exported_or_pending_metrics(exported: set[str]) -> None:
    unknown = dashboard_metrics("warden-release.json") - exported - PENDING
    assert not unknown, f"list these in deploy/pending-metrics.yaml: {sorted(unknown)}"


def test_alert_rules_read_only_known_metrics(exported: set[str]) -> None:
    read, recorded = alert_rule_metrics()
    unknown = read - exported - PENDING - EXTERNAL - recorded
    assert not unknown, f"alerts.yaml reads metrics nobody exports: {sorted(unknown)}"


def test_no_pending_metric_is_exported_already(exported: set[str]) -> None:
    landed = PENDING & exported
    assert not landed, (f"{sorted(landed)} are exported now: remove them from "
                        "deploy/pending-metrics.yaml (and move finished panels to serving)")


def test_every_pending_metric_is_used_somewhere() -> None:
    used = dashboard_metrics("warden-release.json") | alert_rule_metrics()[0]
    assert used >= PENDING, f"unused entries in pending-metrics.yaml: {sorted(PENDING - used)}"
