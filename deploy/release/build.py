"""The inputs of a release: the git commit, SOURCE_DATE_EPOCH, and the wheel built from the
committed tree (never from uncommitted files, so the commit really describes the wheel)."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .provenance import Source


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def source(root: Path) -> Source:
    commit = _git(root, "rev-parse", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    return Source(repository=f"git+file://{root.resolve()}", commit=commit, dirty=dirty)


def source_date_epoch(root: Path) -> int:
    """$SOURCE_DATE_EPOCH if set, else the commit time: the same commit, the same bytes."""
    configured = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if configured:
        if not configured.isdigit():
            raise ValueError(f"SOURCE_DATE_EPOCH must be whole seconds, got {configured!r}")
        return int(configured)
    return int(_git(root, "log", "-1", "--format=%ct"))


def build_wheel(root: Path, python: Path, out_dir: Path, epoch: int) -> Path:
    """`pip wheel` of the committed tree (git archive HEAD), with this venv's setuptools (no
    network), zip timestamps from `epoch`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="warden-release-") as tmp:
        tree = Path(tmp) / "src"
        tree.mkdir()
        archive = Path(tmp) / "head.tar"
        subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), "HEAD"],
                       cwd=root, check=True, timeout=120)
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        wheels = Path(tmp) / "wheels"
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
        subprocess.run([str(python), "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--wheel-dir", str(wheels), str(tree)],
                       check=True, env=env, timeout=600)
        built = sorted(wheels.glob("*.whl"))
        if len(built) != 1:
            raise RuntimeError(f"expected one wheel, pip wrote {[w.name for w in built]}")
        target = out_dir / built[0].name
        target.write_bytes(built[0].read_bytes())
        return target
