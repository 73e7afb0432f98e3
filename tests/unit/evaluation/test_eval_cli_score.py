"""`warden eval score --ragchecker FILE [--json]` on the published example and bad files."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from warden.cli.eval import app

DATA = Path(__file__).resolve().parents[2] / "data" / "evaluation"
EXAMPLE = DATA / "ragchecker_example_checking_outputs.json"
EXPECTED = DATA / "ragchecker_example_expected.json"

runner = CliRunner()


def test_json_output_is_ragcheckers_shape_and_numbers() -> None:
    result = runner.invoke(app, ["score", "--ragchecker", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    expected = json.loads(EXPECTED.read_text())
    for group in ("overall", "retriever", "generator"):
        assert printed[group] == expected[group]
    assert printed["unmeasured"] == {}
    assert [q["query_id"] for q in printed["results"]] == ["0", "1"]
    assert printed["results"][1]["metrics"]["precision"] == 0.8


def test_table_output_shows_every_metric() -> None:
    result = runner.invoke(app, ["score", "--ragchecker", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    for text in ("precision", "76.4", "noise_sensitivity_in_relevant", "19.1",
                 "faithfulness", "68.2", "Per query"):
        assert text in result.stdout


def test_missing_label_set_is_reported_unmeasured(tmp_path: Path) -> None:
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"results": [{"query_id": "a",
                                             "answer2response": ["Entailment", "Neutral"]}]}))
    result = runner.invoke(app, ["score", "--ragchecker", str(path), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["overall"]["precision"] == 50.0
    assert printed["overall"]["recall"] is None
    assert "response2answer" in printed["unmeasured"]["recall"]
    table = runner.invoke(app, ["score", "--ragchecker", str(path)])
    assert "unmeasured" in table.stdout


def test_bad_files_exit_2_and_name_the_problem(tmp_path: Path) -> None:
    cases = {
        "absent.json": None,
        "broken.json": "{not json",
        "input.json": json.dumps({"results": [{"query_id": "0", "gt_answer": "a"}]}),
        "shape.json": json.dumps({"results": [{"response_claims": ["a"],
                                               "answer2response": []}]}),
    }
    messages = {"absent.json": "no such file", "broken.json": "not valid JSON",
                "input.json": "checking INPUT file",
                "shape.json": "results[0].answer2response"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        result = runner.invoke(app, ["score", "--ragchecker", str(path)])
        assert result.exit_code == 2, (name, result.output)
        assert messages[name] in " ".join(result.stderr.split()), name
