"""`warden eval health|manifest|run`: usage errors exit 2 before any request, naming the
option and the fix; importing the command group loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from warden.cli.eval import app

runner = CliRunner()
# Nothing listens here: a usage error must be reported before any connection is tried.
NOWHERE = ["--url", "http://127.0.0.1:9", "--few-shot", "0", "--judge", "none"]


def test_missing_key_is_a_usage_error() -> None:
    result = runner.invoke(app, ["run", *NOWHERE], env={"WARDEN_KEY": ""})
    assert result.exit_code == 2
    assert "--key" in result.stderr and "warden keys create" in result.stderr


def test_bad_gates_file_suite_and_dataset_are_usage_errors(tmp_path: Path) -> None:
    gates = tmp_path / "gates.yaml"
    gates.write_text("recal_min: 0.5\n")
    bad_gate = runner.invoke(app, ["run", *NOWHERE, "--key", "k", "--gates", str(gates)])
    assert bad_gate.exit_code == 2 and "recal_min: unknown gate" in bad_gate.stderr
    bad_suite = runner.invoke(app, ["run", *NOWHERE, "--key", "k", "--suite", "weekly"])
    assert bad_suite.exit_code == 2 and "smoke, full" in bad_suite.stderr
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "a", "question": "q"}) + "\n")
    bad_data = runner.invoke(app, ["health", *NOWHERE, "--key", "k", "--dataset", str(data)])
    assert bad_data.exit_code == 2 and "gt_answer" in bad_data.stderr
    bad_split = runner.invoke(app, ["manifest", *NOWHERE, "--key", "k", "--split", "train"])
    assert bad_split.exit_code == 2 and "splits in the dataset: dev, test" in bad_split.stderr


def test_unreachable_server_is_a_health_failure_exit_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", *NOWHERE, "--key", "k", "--limit", "1",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 3, result.output
    assert "health gate failed: config" in result.stderr and "--url" in result.stderr
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["passed"] is False


def test_importing_the_eval_commands_loads_nothing_heavy() -> None:
    code = ("import json, sys, warden.cli.eval; print(json.dumps(sorted("
            "m for m in ('numpy', 'httpx', 'torch', 'sentence_transformers', 'matplotlib', "
            "'sqlalchemy', 'yaml') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout) == []
