from pathlib import Path

import pytest

from warden.config import ConfigError, canonical_json, config_hash, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "warden.yaml"
    path.write_text(text)
    return path


def test_defaults_are_valid_and_serve_the_builtin_model() -> None:
    cfg = load_config(environ={})
    assert cfg.models[0].backend == "llamacpp"
    assert cfg.models[0].path is None
    assert cfg.server.port == 8080


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, """
server: {port: 70000, max_body_byts: 10}
models:
  - name: a
    n_ctx: 12
tiers:
  default: {rpm: 0}
""")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    text = "\n".join(err.value.problems)
    assert "server.port:" in text
    assert "server.max_body_byts: unknown key" in text
    assert "models.0.n_ctx:" in text
    assert "tiers.default.rpm:" in text
    assert len(err.value.problems) == 4


def test_upstream_backend_requires_its_block(tmp_path: Path) -> None:
    path = write(tmp_path, "models: [{name: x, backend: upstream}]\n")
    with pytest.raises(ConfigError, match=r"needs an 'upstream:' block"):
        load_config(path, environ={})


def test_default_tier_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "auth: {default_tier: gold}\n")
    with pytest.raises(ConfigError, match=r"auth\.default_tier 'gold'"):
        load_config(path, environ={})


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "server: [unclosed\n"), environ={})
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", environ={})


def test_env_overrides_nested_keys_and_list_items(tmp_path: Path) -> None:
    path = write(tmp_path, "server: {port: 9000}\n")
    cfg = load_config(path, environ={
        "WARDEN_SERVER__PORT": "9100",
        "WARDEN_STORE__REDIS_URL": "redis://127.0.0.1:6379/0",
        "WARDEN_MODELS__0__N_CTX": "4096",
        "WARDEN_TIERS__FREE__RPM": "7",
        "WARDEN_UNRELATED": "x",
    })
    assert cfg.server.port == 9100
    assert cfg.store.redis_url == "redis://127.0.0.1:6379/0"
    assert cfg.models[0].n_ctx == 4096
    assert cfg.tiers["free"].rpm == 7
    assert cfg.tiers["default"].rpm == 60  # untouched tiers keep their defaults


def test_env_override_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_config(None, environ={"WARDEN_SERVER__PORT": "not-a-number"})


def test_hash_is_stable_and_ignores_secrets(tmp_path: Path) -> None:
    base = """
models:
  - name: m
    backend: upstream
    upstream: {base_url: "http://127.0.0.1:9/v1", api_key: %s}
"""
    a = load_config(write(tmp_path, base % "secret-one"), environ={})
    b = load_config(write(tmp_path, base % "secret-two"), environ={})
    assert config_hash(a) == config_hash(b)
    assert "secret-one" not in canonical_json(a)
    c = load_config(write(tmp_path, base.replace("name: m", "name: other") % "x"), environ={})
    assert config_hash(c) != config_hash(a)


def test_hash_does_not_depend_on_key_order(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, "server: {port: 1234, host: 0.0.0.0}\n"), environ={})
    b = load_config(write(tmp_path, "server: {host: 0.0.0.0, port: 1234}\n"), environ={})
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 64
