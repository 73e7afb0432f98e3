"""deploy/prometheus/alerts.yaml: promtool accepts it, its unit tests pass, and every alert
carries a severity, a summary, a description and a runbook that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.deploy.tools import DEPLOY, ROOT, require_tool

RULES = DEPLOY / "prometheus" / "alerts.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "tests"
RUNBOOK_SECTIONS = ("## Diagnose", "## Mitigate", "## Roll back", "## Verify")


def all_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


ALERTS = [rule for rule in all_rules() if "alert" in rule]
ALERT_NAMES = [rule["alert"] for rule in ALERTS]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_promtool_check_rules_accepts_the_file() -> None:
    result = run(require_tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(all_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    files = sorted(str(p) for p in RULE_TESTS.glob("*.yaml"))
    result = run(require_tool("promtool"), "test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files), result.stdout


def test_alert_names_are_unique() -> None:
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_alert_has_severity_annotations_and_runbook(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert rule.get("labels", {}).get("severity") in {"page", "ticket"}, name
    annotations = rule.get("annotations", {})
    for field in ("summary", "description"):
        assert str(annotations.get(field, "")).strip(), f"{name}: annotations.{field} is empty"
    assert annotations.get("runbook_url") == f"docs/runbooks/{name}.md"
    runbook = ROOT / annotations["runbook_url"]
    assert runbook.is_file(), f"{name}: write {runbook.relative_to(ROOT)}"
    text = runbook.read_text()
    missing = [s for s in RUNBOOK_SECTIONS if s not in text]
    assert not missing, f"{runbook.name} lacks sections {missing}"
    assert "warden " in text, f"{runbook.name} names no warden command"


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_a_promtool_test_that_fires_and_one_that_does_not(name: str) -> None:
    path = RULE_TESTS / f"{name}.yaml"
    assert path.is_file(), f"write {path.relative_to(ROOT)} with a firing and a quiet case"
    cases = [case for test in yaml.safe_load(path.read_text())["tests"]
             for case in test.get("alert_rule_test", []) if case["alertname"] == name]
    assert any(case["exp_alerts"] for case in cases), f"{path.name}: no case where {name} fires"
    assert any(not case["exp_alerts"] for case in cases), f"{path.name}: no quiet case"


def test_rule_tests_only_name_alerts_that_exist() -> None:
    for path in RULE_TESTS.glob("*.yaml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                assert case["alertname"] in ALERT_NAMES, f"{path.name}: {case['alertname']}"


def test_every_rule_file_in_the_tests_points_at_alerts_yaml() -> None:
    for path in RULE_TESTS.glob("*.yaml"):
        rule_files = yaml.safe_load(path.read_text())["rule_files"]
        assert [Path(path.parent, f).resolve() for f in rule_files] == [RULES.resolve()]


def test_alertmanager_routing_is_valid_and_pages_on_severity_page() -> None:
    config_path = DEPLOY / "prometheus" / "alertmanager.yaml"
    result = run(require_tool("amtool"), "check-config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    route = yaml.safe_load(config_path.read_text())["route"]
    pager = [r for r in route["routes"] if r["matchers"] == ['severity="page"']]
    assert len(pager) == 1 and pager[0]["receiver"] == "pager"
    assert route["receiver"] == "ticket"


RUNBOOKS = ROOT / "docs" / "runbooks"
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_runbook_index_lists_every_alert() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    missing = [name for name in ALERT_NAMES if f"]({name}.md)" not in index]
    assert not missing, f"docs/runbooks/README.md does not link {missing}"


@pytest.mark.parametrize("page", sorted(RUNBOOKS.glob("*.md")), ids=lambda p: p.name)
def test_runbook_links_resolve(page: Path) -> None:
    broken = [target for target in _LINK.findall(page.read_text())
              if "://" not in target and not (page.parent / target).exists()]
    assert not broken, f"{page.name} links to missing files: {broken}"
