"""Finding the external tools the deploy tests run (promtool, prometheus, alertmanager).

They come from Debian's `prometheus` and `prometheus-alertmanager` packages, which .ci/run
installs. Locally a missing tool skips the test with the install command; under CI=true it
fails, because there it must be present.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
