"""Regenerate the frozen `pydocs` evaluation corpus from the Python standard library.

The corpus is the module, class and function docstrings of 40 well-documented standard-library
modules, one Markdown file per module, as CPython 3.11.7 reports them through `inspect`. The
files are committed: evaluation reads them, never this script, so the corpus is the same on
every machine. This script exists so anyone can see (and re-check) how they were made:

    /root/.pyenv/versions/3.11.7/bin/python src/warden/evaluation/data/make_pydocs.py
    /root/.pyenv/versions/3.11.7/bin/python src/warden/evaluation/data/make_pydocs.py --check

Docstrings change between Python releases, so `--check` only means something on 3.11.7.
Output is deterministic: members sorted by name, memory addresses removed from reprs, and each
line written the way `warden index ingest` normalizes prose (NFKC, runs of spaces collapsed,
lines stripped), so a one-line gold span in a file is also a substring of its indexed chunk.
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import importlib
import inspect
import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

PYTHON_VERSION = "3.11.7"
MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections", "contextlib", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "enum", "fnmatch", "fractions",
    "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "http", "ipaddress", "itertools",
    "json", "logging", "pathlib", "queue", "re", "sched", "secrets", "shutil", "sqlite3",
    "statistics", "string", "tarfile", "tempfile", "textwrap", "urllib.parse", "uuid",
    "zipfile",
)
HERE = Path(__file__).resolve().parent
CORPUS_DIR = "pydocs"
MANIFEST = "MANIFEST.json"

_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")
_INLINE_SPACE = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")
# A docstring line that Markdown would read as a heading or a code fence is escaped, so each
# file's section structure is exactly the one this script writes.
_MARKDOWN_CONTROL = re.compile(r"^(#|```|~~~)")


def tidy(text: str) -> str:
    """Lines as `warden index ingest` normalizes prose."""
    text = unicodedata.normalize("NFKC", _ADDRESS.sub("", text))
    lines = [_INLINE_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def own_doc(obj: Any) -> str:
    """The object's own docstring (not one inherited from a base class), cleaned and with
    Markdown control lines escaped."""
    doc = getattr(obj, "__doc__", None)
    if not (isinstance(doc, str) and doc.strip()):
        return ""
    lines = [line.strip() for line in inspect.cleandoc(doc).splitlines()]
    return "\n".join("\\" + line if _MARKDOWN_CONTROL.match(line) else line
                     for line in lines)


class _Shown:
    """A default value shown by a fixed text instead of its repr."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _stable_default(param: inspect.Parameter) -> inspect.Parameter:
    # A non-empty mutable default can be live module state (logging.shutdown's default is the
    # list of every handler created so far), so its contents would depend on the run.
    default = param.default
    if isinstance(default, (list, dict, set)) and default:
        return param.replace(default=_Shown(f"<{type(default).__name__}>"))
    return param


def signature(name: str, obj: Any) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    return f"{name}{sig.replace(parameters=[_stable_default(p) for p in sig.parameters.values()])}"


def public_names(module: ModuleType) -> list[str]:
    """`__all__` when the module declares it, else public names the module itself defines."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return sorted(set(declared))
    names = []
    for name, value in vars(module).items():
        owner = getattr(value, "__module__", None) or ""
        if not name.startswith("_") and (owner == module.__name__
                                         or owner.startswith(module.__name__ + ".")
                                         or owner == "_" + module.__name__):
            names.append(name)
    return sorted(names)


def enum_members(cls: type[enum.Enum]) -> str:
    return "\n".join(f"{name} = {member.value!r}"
                     for name, member in sorted(cls.__members__.items()))


def class_methods(qualname: str, cls: type) -> Iterator[str]:
    """Sections for public methods and properties the class itself defines and documents."""
    for name in sorted(vars(cls)):
        if name.startswith("_") and name != "__init__":
            continue
        member = vars(cls)[name]
        target = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if not (callable(target) or isinstance(member, property)):
            continue
        doc = own_doc(target)
        if not doc or (name == "__init__" and doc.startswith("Initialize self.")):
            continue
        title = f"{qualname}.{name}"
        heading = signature(title, getattr(cls, name)) if callable(target) else title
        yield f"### {title}\n\n`{heading}`\n\n{doc}"


def member_section(module: ModuleType, name: str) -> str | None:
    obj = getattr(module, name, None)
    qualname = f"{module.__name__}.{name}"
    if inspect.isclass(obj):
        parts = [f"## class {qualname}", f"`{signature(qualname, obj)}`"]
        if own_doc(obj):
            parts.append(own_doc(obj))
        if issubclass(obj, enum.Enum) and obj.__members__:
            parts.append("Members:\n\n" + enum_members(obj))
        if not issubclass(obj, BaseException):
            parts.extend(class_methods(qualname, obj))
        return "\n\n".join(parts)
    if callable(obj) and own_doc(obj):
        return f"## {qualname}\n\n`{signature(qualname, obj)}`\n\n{own_doc(obj)}"
    return None


def render(module_name: str) -> str:
    module = importlib.import_module(module_name)
    parts = [f"# {module_name}",
             f"Reference for the Python {PYTHON_VERSION} standard-library module "
             f"`{module_name}`, from its docstrings.",
             own_doc(module)]
    parts.extend(s for name in public_names(module)
                 if (s := member_section(module, name)) is not None)
    return tidy("\n\n".join(p for p in parts if p)) + "\n"


def corpus_sha256(files: dict[str, str]) -> str:
    """One hash for the whole corpus: SHA-256 of "<path> <sha256>\\n" lines, sorted by path."""
    listing = "".join(f"{path} {digest}\n" for path, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def build() -> tuple[dict[str, str], dict[str, Any]]:
    texts = {f"{CORPUS_DIR}/{name}.md": render(name) for name in MODULES}
    digests = {path: hashlib.sha256(text.encode("utf-8")).hexdigest()
               for path, text in texts.items()}
    manifest = {
        "corpus": "pydocs",
        "python": PYTHON_VERSION,
        "generator": "make_pydocs.py",
        "modules": list(MODULES),
        "files": {path: {"sha256": digests[path], "bytes": len(texts[path].encode("utf-8"))}
                  for path in sorted(texts)},
        "corpus_sha256": corpus_sha256(digests),
        "corpus_sha256_rule": 'sha256 of "<path> <file sha256>\\n" lines sorted by path',
    }
    return texts, manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="Compare with the committed files instead of writing them.")
    args = parser.parse_args()
    running = ".".join(map(str, sys.version_info[:3]))
    if running != PYTHON_VERSION:
        print(f"make_pydocs: running Python {running}; the corpus is defined by "
              f"{PYTHON_VERSION}, whose docstrings may differ", file=sys.stderr)
    texts, manifest = build()
    manifest_text = json.dumps(manifest, indent=2) + "\n"
    if args.check:
        stale = [p for p, t in texts.items()
                 if not (HERE / p).is_file() or (HERE / p).read_text(encoding="utf-8") != t]
        if (HERE / MANIFEST).read_text(encoding="utf-8") != manifest_text:
            stale.append(MANIFEST)
        for path in stale:
            print(f"differs: {path}", file=sys.stderr)
        return 1 if stale else 0
    (HERE / CORPUS_DIR).mkdir(exist_ok=True)
    for path, text in texts.items():
        (HERE / path).write_text(text, encoding="utf-8")
    (HERE / MANIFEST).write_text(manifest_text, encoding="utf-8")
    total = sum(len(t.encode("utf-8")) for t in texts.values())
    print(f"wrote {len(texts)} files, {total} bytes, corpus sha256 "
          f"{manifest['corpus_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
