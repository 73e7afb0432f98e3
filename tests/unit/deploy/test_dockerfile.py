"""deploy/Dockerfile keeps the image rules, and the checker that says so can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.deploy.tools import DEPLOY, ROOT, load_deploy_module

dockerfile_lint = load_deploy_module("dockerfile_lint.py")
instructions, lint = dockerfile_lint.instructions, dockerfile_lint.lint

DOCKERFILE = DEPLOY / "Dockerfile"
GOOD = """\
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS builder
RUN echo build
FROM ${BASE}
COPY --from=builder /opt /opt
USER 10001:10001
HEALTHCHECK CMD ["true"]
"""


def rules(text: str) -> list[str]:
    return [f.rule for f in lint(text)]


def test_the_shipped_dockerfile_passes() -> None:
    assert lint(DOCKERFILE.read_text()) == []


def test_the_command_line_reports_and_exits_non_zero(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "deploy/dockerfile_lint.py", str(DOCKERFILE)],
                        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and ok.stdout == ""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nADD https://x.example/a.tgz /a\n")
    failed = subprocess.run([sys.executable, "deploy/dockerfile_lint.py", str(bad)],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert failed.returncode == 1
    assert "[pinned-base]" in failed.stdout and "[no-add-url]" in failed.stdout


def test_the_shipped_dockerfile_has_what_the_issue_asks() -> None:
    steps = instructions(DOCKERFILE.read_text())
    froms = [s.arguments for s in steps if s.keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder and a runtime stage"
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    assert "SOURCE_DATE_EPOCH" in text
    assert "pip wheel --no-deps --wheel-dir /wheels \"llama-cpp-python==" in text
    assert "./deploy/install.sh /opt/warden" in text
    assert "/healthz" in next(s for s in steps if s.keyword == "HEALTHCHECK").arguments


def test_a_good_minimal_file_passes() -> None:
    assert lint(GOOD) == []


@pytest.mark.parametrize(("text", "rule"), [
    (GOOD.replace("python:3.11-slim-bookworm", "python:latest"), "pinned-base"),
    (GOOD.replace("python:3.11-slim-bookworm", "python"), "pinned-base"),
    (GOOD.replace("python:3.11-slim-bookworm", "registry:5000/python"), "pinned-base"),
    (GOOD.replace("USER 10001:10001", "USER root"), "non-root-user"),
    (GOOD.replace("USER 10001:10001", "USER 0:0"), "non-root-user"),
    (GOOD.replace("USER 10001:10001\n", ""), "non-root-user"),
    (GOOD.replace('HEALTHCHECK CMD ["true"]', "HEALTHCHECK NONE"), "healthcheck"),
    (GOOD.replace('HEALTHCHECK CMD ["true"]\n', ""), "healthcheck"),
    (GOOD + "ADD https://example.invalid/tool.tgz /opt/\n", "no-add-url"),
    (GOOD + "ADD --chmod=755 http://example.invalid/x \\\n    /usr/local/bin/x\n", "no-add-url"),
    (GOOD + "ADD git@example.invalid:org/repo.git /src\n", "no-add-url"),
])
def test_each_rule_catches_its_violation(text: str, rule: str) -> None:
    assert rule in rules(text)


def test_a_user_only_in_the_builder_stage_does_not_count() -> None:
    text = GOOD.replace("RUN echo build", "USER 10001\nHEALTHCHECK CMD true").replace(
        "USER 10001:10001\nHEALTHCHECK CMD [\"true\"]\n", "")
    assert set(rules(text)) == {"non-root-user", "healthcheck"}


def test_digest_pins_and_local_copies_pass() -> None:
    pinned = GOOD.replace("python:3.11-slim-bookworm",
                          "python:3.11-slim-bookworm@sha256:" + "0" * 64)
    assert lint(pinned + "ADD vendor/tool.tgz /opt/\n") == []
