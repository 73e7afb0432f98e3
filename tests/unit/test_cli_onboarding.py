"""What a newcomer meets first: `--version`, readable help, `keys create` saying which store
it wrote to, WARDEN_HOME for one store from any directory, and `index activate --corpus`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from warden import __version__
from warden.cli.main import app
from warden.config import load_config
from warden.retrieval.versions import VersionStore
from warden.store.db import Database

runner = CliRunner()


def warden(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in a clean environment (no config file, no WARDEN_* from outside)."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "warden.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env={**base, **env})


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"warden {__version__}"


def command_paths() -> Iterator[list[str]]:
    # typer 0.29 vendors click: a group is whatever has subcommands.
    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def test_help_shows_no_value_type_after_a_flag() -> None:
    seen = 0
    for path in command_paths():
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        seen += "--json" in result.output
    assert seen >= 5  # the flags really were in the help that was checked


def test_keys_create_prints_only_the_secret_and_names_the_store(tmp_path: Path) -> None:
    created = warden(tmp_path, "keys", "create", "--name", "me")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("wk_") and created.stdout.count("\n") == 1
    store = tmp_path / ".warden" / "warden.db"
    assert f"store: {store}" in created.stderr and store.exists()


def test_warden_home_gives_every_directory_the_same_store(tmp_path: Path) -> None:
    home, here, there = tmp_path / "home", tmp_path / "a", tmp_path / "b"
    here.mkdir()
    there.mkdir()
    created = warden(here, "keys", "create", "--name", "me", WARDEN_HOME=str(home))
    assert created.returncode == 0, created.stderr
    assert f"store: {home / 'warden.db'}" in created.stderr
    key_id = created.stdout.split("_")[1]
    listed = warden(there, "keys", "list", WARDEN_HOME=str(home))
    assert key_id in listed.stdout
    assert not (here / ".warden").exists() and not (there / ".warden").exists()
    elsewhere = warden(there, "keys", "list")  # without WARDEN_HOME: ./.warden, as before
    assert key_id not in elsewhere.stdout and (there / ".warden" / "warden.db").exists()


def test_warden_home_sets_defaults_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    defaults = load_config(environ={})
    assert (defaults.store.url, defaults.retrieval.data_dir) == (
        "sqlite:///.warden/warden.db", ".warden")
    cfg = load_config(environ={"WARDEN_HOME": str(home)})
    assert cfg.store.url == f"sqlite:///{home}/warden.db"
    assert cfg.retrieval.data_dir == str(home)
    config = tmp_path / "warden.yaml"
    config.write_text("store: {url: 'sqlite:////srv/w.db'}\nretrieval: {data_dir: /srv/data}\n")
    explicit = load_config(config, environ={"WARDEN_HOME": str(home)})
    assert (explicit.store.url, explicit.retrieval.data_dir) == ("sqlite:////srv/w.db",
                                                                 "/srv/data")
    by_env = load_config(environ={"WARDEN_HOME": str(home),
                                  "WARDEN_STORE__URL": "sqlite:////srv/env.db"})
    assert by_env.store.url == "sqlite:////srv/env.db"
    assert by_env.retrieval.data_dir == str(home)


def ready_version(db: Database, corpus: str) -> int:
    versions = VersionStore(db)
    version, _run = versions.begin(corpus, {})
    versions.finalize(version, merkle_root="0" * 64, chunk_count=0, quarantined_count=0,
                      document_count=0, stats={}, activate=None, actor="test")
    return version


def test_index_activate_takes_corpus(db: Database, tmp_path: Path) -> None:
    docs, faq = ready_version(db, "docs"), ready_version(db, "faq")
    config = tmp_path / "warden.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/warden.db'}}\n")
    wrong = runner.invoke(app, ["index", "activate", str(faq), "--corpus", "docs",
                                "--config", str(config)])
    assert wrong.exit_code == 2
    assert f"version {faq} belongs to corpus 'faq', not 'docs'" in wrong.output
    assert VersionStore(db).active("docs") == docs
    right = runner.invoke(app, ["index", "activate", str(docs), "--corpus", "docs",
                                "--config", str(config)])
    assert right.exit_code == 0 and "already active for corpus 'docs'" in right.output
