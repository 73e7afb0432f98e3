"""The `warden` command: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

WARDEN = [sys.executable, "-m", "warden.cli.main"]


def run(tmp_path: Path, *args: str, config: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if config is not None:
        path = tmp_path / "warden.yaml"
        path.write_text(config)
        base["WARDEN_CONFIG"] = str(path)
    return subprocess.run([*WARDEN, *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**base, **(env or {})}, timeout=120)


def test_help_explains_every_command(tmp_path: Path) -> None:
    top = run(tmp_path, "--help")
    assert top.returncode == 0
    for command in ("serve", "config", "keys", "audit"):
        assert command in top.stdout
    create = run(tmp_path, "keys", "create", "--help")
    assert "--tier" in create.stdout and "--role" in create.stdout


def test_config_check_lists_every_problem_with_key_paths(tmp_path: Path) -> None:
    result = run(tmp_path, "config", "check",
                 config="server: {port: -1}\nmodels: [{name: a, n_ctx: 1, backend: gpu}]\n")
    assert result.returncode == 2
    assert "server.port" in result.stderr
    assert "models.0.n_ctx" in result.stderr
    assert "models.0.backend" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_and_hash_on_valid_config(tmp_path: Path) -> None:
    ok = run(tmp_path, "config", "check", config="server: {port: 9000}\n")
    assert ok.returncode == 0 and "config OK" in ok.stdout
    first = run(tmp_path, "config", "hash", config="server: {port: 9000}\n").stdout.strip()
    env_changed = run(tmp_path, "config", "hash", config="server: {port: 9000}\n",
                      env={"WARDEN_SERVER__PORT": "9001"}).stdout.strip()
    assert len(first) == 64 and first != env_changed


def test_serve_refuses_an_invalid_config_in_one_clear_message(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", config="tiers: {default: {rpm: zero}}\n")
    assert result.returncode == 2
    assert "tiers.default.rpm" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_an_unreachable_database(tmp_path: Path) -> None:
    result = run(tmp_path, "serve",
                 config="store: {url: 'postgresql://nobody@127.0.0.1:1/none'}\n")
    assert result.returncode == 1
    assert "cannot open the store" in result.stderr and "store.url" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_reports_a_missing_model_file(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", config="models: [{name: m, path: /nope/model.gguf}]\n")
    assert result.returncode == 1 and "no GGUF file at /nope/model.gguf" in result.stderr


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    config = f"store: {{url: 'sqlite:///{tmp_path}/k.db'}}\n"
    created = run(tmp_path, "keys", "create", "--name", "ops", "--tier", "pro",
                  "--role", "admin", config=config)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("wk_") and "\n" not in secret
    key_id = secret.split("_")[1]
    listed = run(tmp_path, "keys", "list", config=config)
    assert key_id in listed.stdout and "active" in listed.stdout
    assert secret.split("_", 2)[2] not in listed.stdout
    assert run(tmp_path, "keys", "revoke", key_id, config=config).returncode == 0
    assert "revoked" in run(tmp_path, "keys", "list", config=config).stdout
    missing = run(tmp_path, "keys", "revoke", "nope", config=config)
    assert missing.returncode == 1 and "no key with id 'nope'" in missing.stderr
    bad_tier = run(tmp_path, "keys", "create", "--name", "x", "--tier", "gold", config=config)
    assert bad_tier.returncode == 2 and "--tier 'gold'" in bad_tier.stderr
    verified = run(tmp_path, "audit", "verify", config=config)
    assert verified.returncode == 0 and "2 records" in verified.stdout


def test_audit_export_and_purge(tmp_path: Path) -> None:
    import json

    config = f"store: {{url: 'sqlite:///{tmp_path}/a.db'}}\n"
    for name in ("a", "b", "c"):
        assert run(tmp_path, "keys", "create", "--name", name, config=config).returncode == 0
    exported = run(tmp_path, "audit", "export", config=config)
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert all({"hash", "prev_hash", "payload", "kind"} <= set(r) for r in records)
    bad = run(tmp_path, "audit", "purge", "--older-than", "soon", config=config)
    assert bad.returncode == 2 and "90d" in bad.stderr
    purged = run(tmp_path, "audit", "purge", "--older-than", "0m", "--yes", config=config)
    assert purged.returncode == 0 and "purged 3 records" in purged.stdout
    verified = run(tmp_path, "audit", "verify", config=config)
    assert verified.returncode == 0 and "1 records" in verified.stdout
