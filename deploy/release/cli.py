"""`python -m deploy.release`: build, sign and verify the release artifacts.

    all      wheel + lock + SBOM + provenance statement + DSSE signature, then verify
    verify   check a signed statement and the files it names
    keygen   write a new signing key (ed25519 with `cryptography`, else HMAC-SHA256)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from . import build, inventory, provenance, sbom, signing
from .digests import sha256_file

ROOT = Path(__file__).resolve().parents[2]
APP = "warden"
KEY_VARIABLE = "WARDEN_SIGNING_KEY"
LOCK_NAME = "requirements.lock"
SBOM_NAME = "sbom.cdx.json"
STATEMENT_NAME = "provenance.intoto.json"
ENVELOPE_NAME = "provenance.intoto.dsse.json"


class ReleaseError(Exception):
    """What went wrong and how to fix it; printed without a traceback."""


def _key_path(given: str | None) -> Path:
    path = given or os.environ.get(KEY_VARIABLE, "")
    if not path:
        raise ReleaseError(f"no signing key: set {KEY_VARIABLE}=PATH (create one with "
                           "`python -m deploy.release keygen --out PATH`) or pass --key PATH")
    return Path(path)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def build_all(venv: Path, out: Path, key_path: Path) -> Path:
    started = time.time()
    key = signing.load_key(key_path)
    epoch = build.source_date_epoch(ROOT)
    source = build.source(ROOT)
    out.mkdir(parents=True, exist_ok=True)
    wheel = build.build_wheel(ROOT, inventory.venv_python(venv), out, epoch)
    dists = inventory.installed(venv)
    app = next((d for d in dists if d.key == APP), None)
    if app is None:
        raise ReleaseError(f"{venv} has no '{APP}' installed; run `make install` first")
    lock = out / LOCK_NAME
    lock.write_text(inventory.lock_text(dists, exclude={APP}))
    wheel_sha = sha256_file(wheel)
    sbom_path = out / SBOM_NAME
    _write_json(sbom_path, sbom.build_sbom(dists, app=APP, app_version=app.version,
                                           app_wheel_sha256=wheel_sha, epoch=epoch))
    statement = provenance.build_statement(
        wheel=provenance.Artifact(wheel.name, wheel_sha),
        sbom=provenance.Artifact(SBOM_NAME, sha256_file(sbom_path)),
        lock=provenance.Artifact(LOCK_NAME, sha256_file(lock)),
        source=source, builder_id=f"local:{os.uname().nodename}",
        invocation_id=str(uuid.uuid4()), started=started, finished=time.time(),
        source_date_epoch=epoch, command=["make", "release-artifacts"])
    _write_json(out / STATEMENT_NAME, statement)
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    _write_json(out / ENVELOPE_NAME, signing.sign_envelope(payload, key))
    return out / ENVELOPE_NAME


def verify(envelope_path: Path, key_path: Path, artifacts: Path) -> list[str]:
    """Checks the signature, then every subject and the lock against the files in
    `artifacts`. Returns what was checked; raises ReleaseError on the first mismatch."""
    key = signing.load_key(key_path)
    envelope = json.loads(envelope_path.read_text())
    statement = json.loads(signing.open_envelope(envelope, key))
    if statement.get("_type") != provenance.STATEMENT_TYPE:
        raise ReleaseError(f"not an in-toto v1 statement: _type={statement.get('_type')!r}")
    if statement.get("predicateType") != provenance.PREDICATE_TYPE:
        raise ReleaseError(f"not SLSA provenance v1: {statement.get('predicateType')!r}")
    checked = [f"signature: {key.kind} {key.keyid}"]
    named = [(s["name"], s["digest"]["sha256"]) for s in statement["subject"]]
    resolved = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    named += [(r["name"], r["digest"]["sha256"]) for r in resolved if "name" in r]
    for name, expected in dict(named).items():
        path = artifacts / name
        if not path.is_file():
            raise ReleaseError(f"{name} is named in the statement but missing from {artifacts}")
        actual = sha256_file(path)
        if actual != expected:
            raise ReleaseError(f"{name}: sha256 {actual} differs from the signed {expected}")
        checked.append(f"{name}: sha256 {expected[:16]}… matches")
    commit = next(r["digest"]["gitCommit"] for r in resolved if "gitCommit" in r["digest"])
    checked.append(f"source commit: {commit}")
    return checked


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    every = commands.add_parser("all", help="build, sign and verify every artifact")
    every.add_argument("--venv", type=Path, default=ROOT / ".venv")
    every.add_argument("--out", type=Path, default=ROOT / "dist" / "release")
    every.add_argument("--key", help=f"signing key (default: ${KEY_VARIABLE})")
    check = commands.add_parser("verify", help="verify a signed statement and its files")
    check.add_argument("envelope", type=Path)
    check.add_argument("--key", help=f"key or ed25519 public key (default: ${KEY_VARIABLE})")
    check.add_argument("--dir", type=Path, help="where the artifacts are (default: next to "
                       "the envelope)")
    keygen = commands.add_parser("keygen", help="write a new signing key (mode 0600)")
    keygen.add_argument("--out", type=Path, required=True)
    keygen.add_argument("--kind", choices=["auto", "ed25519", "hmac"], default="auto")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "all":
            envelope = build_all(args.venv, args.out, _key_path(args.key))
            for line in verify(envelope, _key_path(args.key), args.out):
                print(f"ok  {line}")
            print(f"release artifacts in {args.out}")
        elif args.command == "verify":
            for line in verify(args.envelope, _key_path(args.key),
                               args.dir or args.envelope.parent):
                print(f"ok  {line}")
            print("verified")
        else:
            kind = args.kind if args.kind != "auto" else (
                "ed25519" if signing.ed25519_available() else "hmac")
            public = signing.generate_key(args.out, kind)
            print(f"{kind} key written to {args.out}" + (f"; public key {public}" if public
                                                          else ""))
    except (ReleaseError, signing.SigningError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
