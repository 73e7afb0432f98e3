"""deploy/release: the SBOM validates against the CycloneDX 1.6 schema, the statement is an
in-toto v1 Statement with a SLSA provenance v1 predicate (parsed strictly by the in-toto
attestation bindings), the DSSE signature verifies with ed25519 and HMAC-SHA256 keys, and
`verify` catches a tampered statement or artifact."""

from __future__ import annotations

import base64
import importlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from google.protobuf.json_format import ParseDict, ParseError
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from tests.unit.deploy.tools import ROOT, load_deploy_module

PACKAGE = load_deploy_module("release").__name__


def part(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


signing, sbom, inventory, provenance, build = (part(n) for n in (
    "signing", "sbom", "inventory", "provenance", "build"))


def release(*args: str, key: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WARDEN_SIGNING_KEY"}
    if key is not None:
        env["WARDEN_SIGNING_KEY"] = str(key)
    return subprocess.run([sys.executable, "-m", "deploy.release", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One real `all` run over this .venv, signed with a new HMAC key: (out dir, key)."""
    work = tmp_path_factory.mktemp("release")
    key = work / "hmac.key"
    made = release("keygen", "--kind", "hmac", "--out", str(key))
    assert made.returncode == 0, made.stderr
    out = work / "out"
    result = release("all", "--venv", str(Path(sys.prefix)), "--out", str(out), key=key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "release artifacts in" in result.stdout
    return out, key


def wheel_of(out: Path) -> Path:
    (wheel,) = out.glob("warden-*.whl")
    return wheel


# --- the documents -------------------------------------------------------------------------

def test_the_sbom_is_valid_cyclonedx_with_record_hashes(artifacts: tuple[Path, Path]) -> None:
    out, _ = artifacts
    text = (out / "sbom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    components = {c["name"].lower(): c for c in document["components"]}
    assert "warden" not in components, "the application is the subject, not a component"
    assert {"fastapi", "llama_cpp_python", "prometheus_client"} <= {
        n.replace("-", "_") for n in components}
    for component in components.values():
        assert component["purl"] == f"pkg:pypi/{component['bom-ref'].split('/')[1]}"
        hashes = component.get("hashes", [])
        assert all(h["alg"] == "SHA-256" and len(h["content"]) == 64 for h in hashes)
    subject = document["metadata"]["component"]
    assert subject["hashes"][0]["content"] == part("digests").sha256_file(wheel_of(out))


def test_the_schema_check_rejects_a_broken_sbom(artifacts: tuple[Path, Path]) -> None:
    out, _ = artifacts
    document = json.loads((out / "sbom.cdx.json").read_text())
    document["components"][0]["hashes"][0]["alg"] = "SHA-257"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))


def test_the_record_hash_is_the_hash_of_the_installed_record() -> None:
    dists = {d.key: d for d in inventory.installed(Path(sys.prefix))}
    import pytest as installed_pytest

    record = Path(installed_pytest.__file__).parents[1].glob(
        f"pytest-{dists['pytest'].version}.dist-info/RECORD")
    (record_path,) = record
    assert dists["pytest"].record_sha256 == part("digests").sha256_file(record_path)
    assert "pluggy" in dists["pytest"].requires


def test_the_statement_is_in_toto_v1_with_slsa_provenance_v1(
        artifacts: tuple[Path, Path]) -> None:
    out, _ = artifacts
    statement = json.loads((out / "provenance.intoto.json").read_text())
    parsed = ParseDict(statement, statement_pb2.Statement())  # unknown fields raise
    Statement.copy_from_pb(parsed).validate()
    predicate = ParseDict(statement["predicate"], provenance_pb2.Provenance())
    materials = {m.name or m.uri: m for m in predicate.build_definition.resolved_dependencies}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert any(m.digest["gitCommit"] == commit for m in materials.values())
    digests = part("digests")
    assert materials["requirements.lock"].digest["sha256"] == digests.sha256_file(
        out / "requirements.lock")
    wheel = wheel_of(out)
    assert materials[wheel.name].digest["sha256"] == digests.sha256_file(wheel)
    assert [s["name"] for s in statement["subject"]] == [wheel.name, "sbom.cdx.json"]


def test_the_strict_parser_rejects_a_misspelt_predicate(artifacts: tuple[Path, Path]) -> None:
    out, _ = artifacts
    predicate = json.loads((out / "provenance.intoto.json").read_text())["predicate"]
    predicate["buildDefinition"]["resolvedDependency"] = []
    with pytest.raises(ParseError):
        ParseDict(predicate, provenance_pb2.Provenance())


def test_the_lock_pins_every_dependency_with_its_record_hash(
        artifacts: tuple[Path, Path]) -> None:
    out, _ = artifacts
    lines = [ln for ln in (out / "requirements.lock").read_text().splitlines()
             if not ln.startswith("#")]
    names = [ln.split("==")[0] for ln in lines]
    assert names == sorted(names) and len(names) > 50
    assert all("==" in ln and "# record-sha256:" in ln for ln in lines)
    assert not [ln for ln in lines if ln.startswith("warden==")]


# --- signing and verifying -----------------------------------------------------------------

def test_verify_accepts_the_signed_release(artifacts: tuple[Path, Path]) -> None:
    out, key = artifacts
    result = release("verify", str(out / "provenance.intoto.dsse.json"), key=key)
    assert result.returncode == 0, result.stderr
    assert "ok  signature: hmac-sha256" in result.stdout and "verified" in result.stdout


@pytest.mark.parametrize("damage", ["artifact", "statement", "key"])
def test_verify_catches_tampering(artifacts: tuple[Path, Path], tmp_path: Path,
                                  damage: str) -> None:
    out, key = artifacts
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    envelope_path = copy / "provenance.intoto.dsse.json"
    if damage == "artifact":
        with (copy / "requirements.lock").open("a") as lock:
            lock.write("evil==6.6.6  # record-sha256:none\n")
        expected = "requirements.lock: sha256"
    elif damage == "statement":
        envelope = json.loads(envelope_path.read_text())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["subject"][0]["digest"]["sha256"] = "0" * 64
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        envelope_path.write_text(json.dumps(envelope))
        expected = "no signature in the envelope verifies"
    else:
        key = tmp_path / "other.key"
        assert release("keygen", "--kind", "hmac", "--out", str(key)).returncode == 0
        expected = "no signature in the envelope verifies"
    result = release("verify", str(envelope_path), key=key)
    assert result.returncode == 1
    assert expected in result.stderr


def test_dsse_pre_authentication_encoding_matches_the_spec() -> None:
    # The test vector of the DSSE protocol description.
    assert signing.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


def test_ed25519_signs_and_the_public_key_verifies(tmp_path: Path) -> None:
    private = tmp_path / "release.key"
    public = signing.generate_key(private, "ed25519")
    assert public is not None and b"PUBLIC KEY" in public.read_bytes()
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    envelope = signing.sign_envelope(b'{"x": 1}', signing.load_key(private))
    verifier = signing.load_key(public)
    assert verifier.sign is None and verifier.kind == "ed25519"
    assert signing.open_envelope(envelope, verifier) == b'{"x": 1}'
    envelope["payload"] = base64.b64encode(b'{"x": 2}').decode()
    with pytest.raises(signing.SigningError, match="no signature"):
        signing.open_envelope(envelope, verifier)
    with pytest.raises(signing.SigningError, match="cannot sign"):
        signing.sign_envelope(b"{}", verifier)


def test_hmac_keys_need_32_bytes_and_keys_are_never_overwritten(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("00" * 16)
    with pytest.raises(signing.SigningError, match="at least 32"):
        signing.load_key(short)
    with pytest.raises(signing.SigningError, match="refusing to overwrite"):
        signing.generate_key(short, "hmac")


def test_keygen_defaults_to_ed25519_when_cryptography_is_installed(tmp_path: Path) -> None:
    result = release("keygen", "--out", str(tmp_path / "k"))
    assert result.returncode == 0
    assert result.stdout.startswith("ed25519 key written") == signing.ed25519_available()


def test_all_without_a_key_names_the_variable_and_the_fix(tmp_path: Path) -> None:
    result = release("all", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "WARDEN_SIGNING_KEY" in result.stderr and "keygen" in result.stderr


def test_the_wheel_is_reproducible_for_one_commit_and_epoch(tmp_path: Path) -> None:
    python = Path(sys.executable)
    first = build.build_wheel(ROOT, python, tmp_path / "a", 1_700_000_000)
    second = build.build_wheel(ROOT, python, tmp_path / "b", 1_700_000_000)
    digests = part("digests")
    assert digests.sha256_file(first) == digests.sha256_file(second)


def _sbom_of(dists: list[Any]) -> dict[str, Any]:
    document: dict[str, Any] = sbom.build_sbom(dists, app="app", app_version="1.0",
                                               app_wheel_sha256=None, epoch=0)
    return document


def test_the_sbom_is_deterministic_and_links_dependencies() -> None:
    dist = inventory.Distribution
    dists = [dist("app", "app", "1.0", "a" * 64, None, ("lib",)),
             dist("lib", "Lib", "2.0", "b" * 64, "MIT", ())]
    first, second = _sbom_of(dists), _sbom_of(list(reversed(dists)))
    assert first["serialNumber"] == second["serialNumber"]
    assert first["dependencies"][0] == {"ref": "pkg:pypi/app@1.0",
                                        "dependsOn": ["pkg:pypi/lib@2.0"]}
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(first)) is None
