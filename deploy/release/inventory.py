"""What a virtual environment has installed: every distribution with its version, the
SHA-256 of its RECORD file (which lists the hash of every installed file), its license and
the installed distributions it requires. Read by running the venv's own interpreter, so the
answer is about that venv whichever Python runs this module."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Runs inside the target venv. Only the standard library plus `packaging` when present
# (for environment markers; without it every requirement counts).
_PROBE = r"""
import hashlib, json, re
from importlib import metadata

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

try:
    from packaging.requirements import Requirement
except ImportError:
    Requirement = None

dists = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    # The RECORD file's bytes as on disk (read_text would translate line endings).
    records = [f for f in dist.files or [] if f.name == "RECORD"
               and f.parent.name.endswith(".dist-info")]
    record = records[0].locate().read_bytes() if records else None
    requires = []
    for spec in dist.requires or []:
        if Requirement is not None:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            requires.append(norm(req.name))
        else:
            requires.append(norm(re.split(r"[ ;<>=!~\[(]", spec, 1)[0]))
    dists[norm(name)] = {
        "name": name, "version": dist.version,
        "record_sha256": hashlib.sha256(record).hexdigest() if record else None,
        "license": dist.metadata.get("License-Expression") or dist.metadata.get("License"),
        "requires": requires,
    }
print(json.dumps(dists))
"""


@dataclass(frozen=True)
class Distribution:
    key: str                    # normalized name (PEP 503)
    name: str
    version: str
    record_sha256: str | None   # None for distributions installed without a RECORD
    license: str | None
    requires: tuple[str, ...]   # normalized names of installed requirements


def venv_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"no interpreter at {python}: pass --venv pointing at a "
                                "virtual environment (e.g. .venv)")
    return python


def installed(venv: Path) -> list[Distribution]:
    out = subprocess.run([str(venv_python(venv)), "-c", _PROBE], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    raw: dict[str, dict[str, Any]] = json.loads(out)
    return [Distribution(key=key, name=info["name"], version=info["version"],
                         record_sha256=info["record_sha256"], license=info["license"] or None,
                         requires=tuple(sorted({r for r in info["requires"] if r in raw})))
            for key, info in sorted(raw.items())]


def lock_text(dists: list[Distribution], exclude: set[str]) -> str:
    """`name==version  # record-sha256:<hex>` per line, sorted: the dependency lock the
    provenance names as a material (its own digest covers every line)."""
    lines = ["# Installed distributions of the release environment, with the SHA-256 of each",
             "# distribution's RECORD (which lists the hash of every file it installed)."]
    for dist in dists:
        if dist.key in exclude:
            continue
        record = dist.record_sha256 or "none"
        lines.append(f"{dist.key}=={dist.version}  # record-sha256:{record}")
    return "\n".join(lines) + "\n"
