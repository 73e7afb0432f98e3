"""`warden switch NAME` accepts only switches the config defines: a typo such as
`tool:nonexistent off` used to be stored, reported as done, and honoured by nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from warden.cli.main import app
from warden.config import load_config
from warden.safety.switches.names import known_switch_names, unknown_switch_problem
from warden.store.audit import AuditLog
from warden.store.db import Database

TOOLS = """
tools:
  - name: web_search
    description: Search the web.
    parameters: {type: object, properties: {q: {type: string}}, required: [q]}
    executor: {python: "warden.safety.tools.builtin:calculator"}
    mutating: false
    tiers: [default]
  - name: calculator
    description: Arithmetic.
    parameters: {type: object, properties: {expression: {type: string}}}
    executor: {python: "warden.safety.tools.builtin:calculator"}
    mutating: false
    tiers: [default]
"""


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "warden.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/warden.db'}}\n{extra}")
    return config


def test_known_names_come_from_the_tool_registry(tmp_path: Path) -> None:
    assert known_switch_names(load_config(write_config(tmp_path), environ={})) == [
        "retrieval", "tools"]
    cfg = load_config(write_config(tmp_path, TOOLS), environ={})
    assert known_switch_names(cfg) == ["retrieval", "tools", "tool:calculator",
                                       "tool:web_search"]


def test_unknown_names_are_explained() -> None:
    known = ["retrieval", "tools", "tool:calculator"]
    assert unknown_switch_problem("tool:calculator", known) is None
    tool = unknown_switch_problem("tool:nonexistent", known)
    assert tool is not None and "no tool 'nonexistent' is configured" in tool
    assert "retrieval, tools, tool:calculator" in tool
    other = unknown_switch_problem("retreival", known)
    assert other == "unknown switch 'retreival'. Known switches: retrieval, tools, " \
                    "tool:calculator"


def test_cli_refuses_an_unknown_switch_and_changes_nothing(db: Database,
                                                           tmp_path: Path) -> None:
    config = str(write_config(tmp_path, TOOLS))
    before = len(list(AuditLog(db).export()))
    for args in (["tool:nonexistent", "off", "--reason", "x"], ["tool:nonexistent"],
                 ["retreival", "on"]):
        result = CliRunner().invoke(app, ["switch", *args, "--config", config])
        assert result.exit_code == 2, (args, result.output)
        assert "Known switches: retrieval, tools, tool:calculator, tool:web_search" in \
            " ".join(result.output.split()), result.output
    assert len(list(AuditLog(db).export())) == before  # no flip was written
    flipped = CliRunner().invoke(app, ["switch", "tool:web_search", "off", "--reason", "test",
                                       "--config", config])
    assert flipped.exit_code == 0 and "tool:web_search is OFF" in flipped.output
