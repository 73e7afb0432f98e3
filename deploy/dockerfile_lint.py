"""A small Dockerfile checker for the rules deploy/Dockerfile must keep (hadolint is not
available here): every base image pinned (a digest, or a tag that is not `latest`), the final
stage runs as a non-root USER and has a HEALTHCHECK, and nothing is ADDed from a URL.

    python deploy/dockerfile_lint.py deploy/Dockerfile      # exit 1 and one line per finding
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_ROOT_USERS = {"root", "0"}
_URL = re.compile(r"^(?:https?|ftp)://|^git@|\.git(?:#.*)?$", re.I)
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?")


@dataclass(frozen=True)
class Finding:
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if stripped.endswith("\\"):
            continue
        keyword, _, arguments = " ".join(pending).partition(" ")
        found.append(Instruction(start, keyword.upper(), arguments.strip()))
        pending = []
    return found


def _substitute(value: str, args: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: args.get(m.group(1), m.group(2) or ""), value)


def _image_pin_problem(image: str, stage_names: set[str]) -> str | None:
    if image in stage_names or image == "scratch":
        return None
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all ("python" or "registry:5000/python")
        return f"base image '{image}' has no tag: pin a tag or a digest"
    if tag == "latest":
        return f"base image '{image}' uses the 'latest' tag: pin a version or a digest"
    return None


def lint(text: str) -> list[Finding]:
    steps = instructions(text)
    findings: list[Finding] = []
    args: dict[str, str] = {}
    stage_names: set[str] = set()
    stages: list[list[Instruction]] = []
    for step in steps:
        if step.keyword == "ARG":
            name, _, default = step.arguments.partition("=")
            if not stages:  # global ARGs feed FROM lines
                args[name.strip()] = _substitute(default.strip().strip('"'), args)
        if step.keyword == "FROM":
            words = [w for w in step.arguments.split() if not w.startswith("--")]
            image = _substitute(words[0], args) if words else ""
            problem = _image_pin_problem(image, stage_names)
            if problem:
                findings.append(Finding(step.line, "pinned-base", problem))
            if len(words) >= 3 and words[1].lower() == "as":
                stage_names.add(words[2])
            stages.append([])
        elif stages:
            stages[-1].append(step)
        if step.keyword == "ADD":
            sources = [w for w in step.arguments.split() if not w.startswith("--")][:-1]
            for source in sources:
                if _URL.search(source.strip('[]",')):
                    findings.append(Finding(step.line, "no-add-url", f"ADD fetches '{source}': "
                                            "download with RUN and check a checksum, or COPY"))
    if not stages:
        return [*findings, Finding(1, "pinned-base", "no FROM instruction")]
    final = stages[-1]
    users = [s for s in final if s.keyword == "USER"]
    if not users:
        findings.append(Finding(steps[-1].line, "non-root-user",
                                "the final stage has no USER: add e.g. `USER 10001:10001`"))
    elif users[-1].arguments.split(":")[0] in _ROOT_USERS:
        findings.append(Finding(users[-1].line, "non-root-user",
                                "the final stage runs as root: USER must name another user"))
    checks = [s for s in final if s.keyword == "HEALTHCHECK"]
    if not checks or checks[-1].arguments.upper() == "NONE":
        findings.append(Finding(steps[-1].line, "healthcheck",
                                "the final stage has no HEALTHCHECK: probe /healthz"))
    return sorted(findings, key=lambda f: f.line)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python deploy/dockerfile_lint.py DOCKERFILE", file=sys.stderr)
        return 2
    findings = lint(Path(argv[0]).read_text())
    for finding in findings:
        print(f"{argv[0]}: {finding}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
