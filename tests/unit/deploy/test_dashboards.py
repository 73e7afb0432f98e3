"""deploy/grafana/*.json: well-formed Grafana dashboards whose every query parses as PromQL
(promtool checks them as recording rules). Whether the metrics exist is checked against a
live server in tests/integration/test_deploy_dashboards.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.deploy.promql_names import family, metric_names
from tests.unit.deploy.tools import DEPLOY, require_tool

DASHBOARDS = sorted((DEPLOY / "grafana").glob("*.json"))
# What Grafana substitutes before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m",
                     "$model": ".*"}


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def queries(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def as_prometheus_sees_it(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def test_both_dashboards_exist() -> None:
    assert [p.name for p in DASHBOARDS] == ["warden-release.json", "warden-serving.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    board = load(path)
    assert board["uid"] == path.stem and board["title"] and board["schemaVersion"] >= 36
    names = [v["name"] for v in board["templating"]["list"]]
    assert "datasource" in names
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel.get("description"), f"{panel['title']!r} needs a description"
        targets = panel["targets"]
        assert targets, f"{panel['title']!r} has no query"
        assert len({t["refId"] for t in targets}) == len(targets)
        assert all(t["expr"].strip() for t in targets)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_parses_as_promql(path: Path, tmp_path: Path) -> None:
    exprs = [as_prometheus_sees_it(e) for e in queries(load(path))]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    rule_file = tmp_path / "queries.yaml"
    rule_file.write_text(yaml.safe_dump(rules))
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(rule_file)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_serving_dashboard_covers_the_issue_panels() -> None:
    read = {family(n) for e in queries(load(DEPLOY / "grafana" / "warden-serving.json"))
            for n in metric_names(e)}
    for metric in ("warden_requests_total", "warden_request_duration_seconds",
                   "warden_time_to_first_token_seconds", "warden_inter_token_latency_seconds",
                   "warden_tokens_total", "warden_queue_depth", "warden_inflight_requests",
                   "warden_safety_events_total", "warden_switch_on",
                   "warden_rate_limit_rejections_total"):
        assert metric in read, f"no panel reads {metric}"


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (route) (rate(warden_requests_total{model=~"$model"}[$__rate_interval]))',
     {"warden_requests_total"}),
    ('histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket{le="2.5"}[5m])))',
     {"x_seconds_bucket"}),
    ("a / ignoring (decision) group_left sum(rate(b[1h])) and on (model) c offset 15m >= 0",
     {"a", "b", "c"}),
    ("warden:ratio_rate5m > (14.4 * 0.005) or up == 0", {"warden:ratio_rate5m", "up"}),
])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_histogram_suffixes_fold_into_the_family() -> None:
    assert family("x_bucket") == family("x_count") == family("x_sum") == "x"
    assert family("warden_requests_total") == "warden_requests_total"
