"""Every `warden` command imports all of warden/cli/. These tests keep the heavy stacks (model,
embeddings, NER, vector and lexical indexes) out of that path: a command that needs one imports
it when it runs. They check which modules got imported, not how long it took."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "sentence_transformers", "presidio_analyzer", "llama_cpp", "spacy", "faiss",
         "bm25s", "sklearn")
# What only the server and the engine use: no store command needs them.
SERVER_ONLY = ("uvicorn", "fastapi", "llguidance")
# Importing the CLI (what `warden --help` does) needs neither the config nor the store.
NOT_AT_IMPORT = (*HEAVY, *SERVER_ONLY, "numpy", "sqlalchemy", "alembic", "httpx", "redis",
                 "prometheus_client", "jsonschema")
# Imports that print the module list of a fresh interpreter after `setup` ran.
_REPORT = "import json, sys; print(json.dumps(sorted(sys.modules)))"


def modules_after(setup: str, cwd: Path | None = None, env: dict[str, str] | None = None
                  ) -> set[str]:
    result = subprocess.run([sys.executable, "-c", f"{setup}\n{_REPORT}"], capture_output=True,
                            text=True, timeout=120, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def heavy_in(modules: set[str], heavy: tuple[str, ...] = (*HEAVY, *SERVER_ONLY)) -> list[str]:
    return sorted(set(heavy) & modules)


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert heavy_in(modules_after("import warden.cli.main"), NOT_AT_IMPORT) == []


def test_building_every_command_and_its_help_loads_no_heavy_module() -> None:
    # typer evaluates each command's signature when it builds the click tree: a heavy type in
    # an annotation would be imported here.
    setup = """
import typer.main
from typer.testing import CliRunner
from warden.cli.main import app
def walk(command, path):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, [*path, name])
paths = list(walk(typer.main.get_command(app), []))
assert len(paths) > 30, paths
for path in paths:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
"""
    assert heavy_in(modules_after(setup)) == []


def imported_by_command(tmp_path: Path, *args: str) -> set[str]:
    """Top-level packages `warden ARGS` imported, read from `python -X importtime`."""
    config = tmp_path / "warden.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/warden.db'}}\n")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "warden.cli.main", *args],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                 "WARDEN_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", result.stderr, re.M)
    assert "warden.cli.common" in names  # the report really is of this command
    return {name.split(".")[0] for name in names}


def test_everyday_commands_load_no_heavy_module(tmp_path: Path) -> None:
    for args in (("keys", "list"), ("config", "check"), ("switch",), ("audit", "verify")):
        assert heavy_in(imported_by_command(tmp_path, *args)) == [], args
