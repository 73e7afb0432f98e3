"""Train the shipped guard heads (crisis, toxicity, injection): `make guard-models`.

    .venv/bin/python scripts/train_guard.py [--only crisis] [--out src/warden/safety/models]

Reads only training data (see warden/safety/training/sources.py; never the held-out set),
fits each head with grouped 5-fold validation (warden/safety/training/fit.py), and writes
`<name>.npz` + `<name>.json` (the card: feature config, thresholds, calibration, SHA-256 of
every training file, validation and training figures). Seeded: the same data gives the same
weights. The screen reads the shipped static vectors (`warden/safety/models/minilm-static.npz`,
`make static-vectors`); the full model reads MiniLM, whose vectors of training texts are
cached in ~/.cache/warden/ (outside the repo) so a re-run takes a minute instead of ten.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from warden.safety.classifier.builtin import WINDOW_CHARS  # noqa: E402
from warden.safety.classifier.features import MINILM, FeatureSpec  # noqa: E402
from warden.safety.classifier.static_encoder import NAME as STATIC  # noqa: E402
from warden.safety.classifier.static_encoder import card as static_card  # noqa: E402
from warden.safety.training.fit import FitSettings, fit_head, prepare  # noqa: E402
from warden.safety.training.metrics import binary_report  # noqa: E402
from warden.safety.training.rows import sha256_file  # noqa: E402
from warden.safety.training.sources import builtin_rows, files_for  # noqa: E402

# Target false-positive rates (on validation) from issue 12.
TARGET_FPR = {"crisis": 0.05, "toxicity": 0.05, "injection": 0.02}
# Documents and tool output get a looser false-positive budget than users' own turns: with
# one shared 2% budget, documents full of instructions for people (install guides,
# policies, security articles quoting attacks) spent all of it, users' turns were held to a
# tenth of it, and plain "ignore all previous instructions" passed. A false positive on a
# retrieved chunk drops that chunk from the context; on a tool result it blocks the call.
INDIRECT_TARGET_FPR = {"injection": 0.10}
SETTINGS = {name: FitSettings(target_fpr=fpr, c_screen=16.0, c_full=16.0, embed_weight=1.0,
                              window_chars=WINDOW_CHARS[name],
                              indirect_target_fpr=INDIRECT_TARGET_FPR.get(name))
            for name, fpr in TARGET_FPR.items()}



def rule_flags(name: str, texts: Sequence[str]) -> np.ndarray:
    """The exact patterns offered beside each model (kept only if validation says so)."""
    if name == "crisis":
        from warden.safety.detectors.crisis import CrisisDetector

        patterns = CrisisDetector(semantic=False)
        return np.array([bool(patterns.scan(t)) for t in texts])
    if name == "injection":
        from warden.safety.detectors.injection_patterns import heuristic_findings

        return np.array([bool(heuristic_findings(t)) for t in texts])
    from warden.safety.detectors.toxicity import abuse_hit

    return np.array([any(abuse_hit(s) for s in t.splitlines() or [t]) for t in texts])


# The built-in heads screen with n-grams + the static vectors (every window, microseconds)
# and decide with n-grams + MiniLM (only windows the screen passes).
SPEC = FeatureSpec(embedding=MINILM, screen_embedding=STATIC)


CACHE = Path.home() / ".cache" / "warden" / "guard-embeddings.npz"


class EmbeddingCache:
    """MiniLM vectors of training texts, keyed by SHA-1 of the text, kept on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        from warden.embeddings import get_embedder

        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True)
                                     if k not in self.vectors))
        if missing:
            fresh = get_embedder().embed(missing, batch_size=64)
            for text, vector in zip(missing, fresh, strict=True):
                self.vectors[hashlib.sha1(text.encode()).hexdigest()] = vector
            self.path.parent.mkdir(parents=True, exist_ok=True)
            names = sorted(self.vectors)
            np.savez(self.path, keys=np.array(names),
                     vectors=np.stack([self.vectors[k] for k in names]))
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32)


def train(name: str, out: Path, embed: EmbeddingCache) -> dict[str, object]:
    started = time.monotonic()
    rows = builtin_rows(name, ROOT)
    head = fit_head(name, rows, SPEC, SETTINGS[name], embed,
                    rules=rule_flags(name, [r.text for r in rows]))
    # Training (resubstitution) figures of the shipped weights, float16 as shipped.
    weights, card_path = head.save(out)
    from warden.safety.classifier.head import Head

    shipped = Head.load(card_path.read_text(encoding="utf-8"), weights)
    prep = prepare(rows, shipped.spec, embed, window_chars=SETTINGS[name].window_chars,
                   sentences=bool(shipped.card["sentences"]))
    screen = shipped.screen(prep.chars, prep.screen_vectors)
    full = shipped.full(prep.chars, prep.vectors)
    best = np.full(len(rows), -1.0)
    np.maximum.at(best, prep.owner, np.where(screen >= shipped.screen_threshold, full, 0.0))
    ruled = rule_flags(name, [r.text for r in rows]) if shipped.card["rules"]["kept"] \
        else np.zeros(len(rows), dtype=bool)
    card = {**shipped.card,
            "training": binary_report(rows, (best >= shipped.threshold) | ruled, best),
            "data": {path: sha256_file(ROOT / path) for path in files_for(name)},
            "encoder": {"name": static_card()["name"],
                        "table_sha256": static_card()["table_sha256"]},
            "trained_with": "scripts/train_guard.py", "seed": SETTINGS[name].seed,
            "target_fpr": TARGET_FPR[name]}
    card.pop("name", None)
    dataclasses.replace(shipped, card=card).save(out)
    summary = {"name": name, "seconds": round(time.monotonic() - started, 1),
               "validation_recall": card["validation"]["recall"]["value"],  # type: ignore[index]
               "validation_fpr": card["validation"]["fpr"]["value"],  # type: ignore[index]
               "training_recall": card["training"]["recall"]["value"],
               "training_fpr": card["training"]["fpr"]["value"],
               "threshold": round(shipped.threshold, 4),
               "screen_threshold": round(shipped.screen_threshold, 4),
               "weights_bytes": weights.stat().st_size,
               "weights_sha256": sha256_file(weights)}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(TARGET_FPR))
    parser.add_argument("--out", type=Path, default=ROOT / "src/warden/safety/models")
    args = parser.parse_args(argv)
    embed = EmbeddingCache(CACHE)
    for name in args.only or sorted(TARGET_FPR):
        print(json.dumps(train(name, args.out, embed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
