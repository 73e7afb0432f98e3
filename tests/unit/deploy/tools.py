"""Finding the external tools the deploy tests run (promtool, prometheus, alertmanager).

They come from Debian's `prometheus` and `prometheus-alertmanager` packages, which .ci/run
installs. Locally a missing tool skips the test with the install command; under CI=true it
fails, because there it must be present.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
APT_HINT = "apt-get install -y prometheus prometheus-alertmanager"


def require_tool(name: str, *alternatives: str) -> str:
    """The path of the first of `name`, `alternatives` on PATH; skip or fail if none is."""
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
    require_service(False, f"`{name}` (install it with `{APT_HINT}`)")
    raise AssertionError("unreachable: require_service skips or fails")


def load_deploy_module(relative: str) -> ModuleType:
    """Import a Python file or package under deploy/ by path, as `warden_deploy.<name>`.

    Under pytest the name `deploy` is this test package (tests/unit has no __init__.py, so
    tests/unit is on sys.path), so the repository's deploy/ cannot be imported by name here.
    Packages use relative imports and load the same way.
    """
    path = DEPLOY / relative
    name = "warden_deploy_" + path.stem.replace("-", "_")
    if name in sys.modules:
        return sys.modules[name]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
