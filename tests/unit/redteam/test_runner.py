"""Runner and CLI edges that need no model: exit codes, one-line errors, rate limits."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.support.procs import free_port
from typer.testing import CliRunner

from warden.cli.main import app
from warden.redteam.cases import load_cases
from warden.redteam.runner import Runner

cli = CliRunner()


def test_unreachable_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = cli.invoke(app, ["redteam", "--url", url, "--key", "wk_x",
                              "--json-out", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert f"cannot reach {url}" in result.output
    assert "Traceback" not in result.output
    drill = cli.invoke(app, ["drill", "kill-switch", "--url", url, "--admin-key", "wk_x"])
    assert drill.exit_code == 2 and f"cannot reach {url}" in drill.output


def test_bad_case_dir_and_category_exit_2(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("- id: a\n  category: schema\n")
    result = cli.invoke(app, ["redteam", "--url", "http://127.0.0.1:1", "--key", "k",
                              "--cases", str(tmp_path)])
    assert result.exit_code == 2 and "invalid case file" in result.output
    result = cli.invoke(app, ["redteam", "--url", "http://127.0.0.1:1", "--key", "k",
                              "--category", "nonsense"])
    assert result.exit_code == 2 and "unknown --category nonsense" in result.output
    result = cli.invoke(app, ["redteam"])
    assert result.exit_code == 2 and "--url and --key are required" in result.output


def test_fixtures_flag_prints_the_corpus_dir() -> None:
    result = cli.invoke(app, ["redteam", "--fixtures"])
    assert result.exit_code == 0
    assert Path(result.output.strip(), "poison-pilot-notice.md").is_file()


def test_rate_limited_request_is_retried_after_retry_after(tmp_path: Path) -> None:
    """A 429 is injected with httpx.MockTransport: a real server cannot be made to answer
    429 and then 200 on demand without a test-only knob."""
    answers = iter([httpx.Response(429, headers={"retry-after": "2"},
                                   json={"error": {"code": "rate_limited"}}),
                    httpx.Response(400, json={"error": {"code": "content_filter",
                                                        "message": "injection"}})])
    waits: list[float] = []
    transport = httpx.MockTransport(lambda request: next(answers))
    runner = Runner("http://test", "wk_user", client=httpx.Client(
        transport=transport, base_url="http://test"), sleep=waits.append)
    (tmp_path / "c.yaml").write_text(
        "- id: a\n  category: prompt_injection\n  description: d\n"
        "  request: {path: /v1/generate, json: {prompt: x}}\n"
        "  expect: {status: [400], error_code: content_filter}\n")
    [result] = runner.run(load_cases(tmp_path))
    assert result.status == "passed" and waits == [2.0]


def test_known_gap_and_template_error_outcomes(tmp_path: Path) -> None:
    """Statuses from a transport that answers like the server did for the known gaps."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"text": "ok"}))
    runner = Runner("http://test", "wk_user", client=httpx.Client(
        transport=transport, base_url="http://test"))
    (tmp_path / "c.yaml").write_text(
        "- id: gap\n  category: jailbreak\n  description: d\n  known_gap: detector misses it\n"
        "  request: {path: /v1/generate, json: {prompt: x}}\n  expect: {status: [400]}\n"
        "- id: fixed\n  category: jailbreak\n  description: d\n  known_gap: was a gap\n"
        "  request: {path: /v1/generate, json: {prompt: x}}\n  expect: {status: [200]}\n"
        "- id: unsaved\n  category: tool_misuse\n  description: d\n"
        "  request: {path: /v1/generate, json: {token: '${token}'}}\n"
        "  expect: {status: [200]}\n")
    gap, fixed, unsaved = runner.run(load_cases(tmp_path))
    assert (gap.status, gap.reason) == ("known_gap", "detector misses it")
    assert fixed.status == "passed" and "no longer reproduces" in (fixed.note or "")
    assert unsaved.status == "failed" and "was not saved" in (unsaved.reason or "")
