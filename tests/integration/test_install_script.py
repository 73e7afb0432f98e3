"""deploy/install.sh, the script the container image runs, installs Warden into a fresh
virtual environment and checks it (CLI, engine import, built-in model, migrations).

The test links this environment's dependencies (--deps-from) and builds and installs Warden
itself, so it takes ~20 s. A full install with every dependency took 4m01s here (about 1 GB
of wheels, llama-cpp-python's wheel already built) and is what deploy/Dockerfile runs.
"""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "install.sh"
SITE_PACKAGES = sysconfig.get_path("purelib")


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_installs_a_working_warden_into_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    result = install("--deps-from", SITE_PACKAGES, str(venv), str(ROOT))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The Warden that runs is the one built and installed into the new venv, not the
    # editable checkout the dependencies came from.
    assert f"warden from {venv}/lib/" in result.stdout
    assert "built-in model SmolLM2-135M-Instruct" in result.stdout
    assert "audit chain intact: 0 records" in result.stdout
    help_text = subprocess.run([str(venv / "bin" / "warden"), "--help"], capture_output=True,
                               text=True, timeout=120)
    assert help_text.returncode == 0
    for command in ("serve", "keys", "switch", "audit"):
        assert command in help_text.stdout
    engine = subprocess.run([str(venv / "bin" / "python"), "-c",
                             "import warden.engine, warden; print(warden.__file__)"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert engine.returncode == 0, engine.stderr
    assert engine.stdout.startswith(str(venv))


def test_refuses_to_install_over_an_existing_directory(tmp_path: Path) -> None:
    result = install(str(tmp_path))
    assert result.returncode == 2
    assert "exists; give a new directory" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert install().returncode == 2
    missing = install("--deps-from", str(tmp_path / "nowhere"), str(tmp_path / "v"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
