"""A trained guard category: two linear models, calibration, thresholds, and its card.

- The *screen* reads character n-grams only (about a millisecond per KB). A text window
  whose screen probability is below `screen_threshold` is cleared without an embedding.
- The *full* model reads n-grams plus the MiniLM embedding; a window is flagged when its
  calibrated probability reaches `threshold`.

Both thresholds were chosen on validation folds of the training data (see
`warden.safety.training.fit`): `threshold` for the category's target false-positive rate,
`screen_threshold` as the highest value that costs at most a point of validation recall.

On disk a head is `<name>.npz` (weights) plus `<name>.json` (the card: features,
thresholds, calibration, training data checksums, validation metrics). Pure numpy at
scoring time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from warden.safety.classifier.features import FeatureSpec


@dataclass(frozen=True, slots=True)
class Platt:
    """p = 1 / (1 + exp(-(slope * z + offset))): decision value to calibrated probability."""

    slope: float
    offset: float

    def __call__(self, z: np.ndarray) -> np.ndarray:
        out: np.ndarray = 1.0 / (1.0 + np.exp(-(self.slope * z + self.offset)))
        return out


@dataclass(frozen=True)
class Head:
    name: str
    spec: FeatureSpec
    screen_char: np.ndarray          # (n_features,)
    screen_bias: float
    screen_platt: Platt
    full_char: np.ndarray            # (n_features,)
    full_emb: np.ndarray             # (embedding_dim,)
    full_bias: float
    full_platt: Platt
    threshold: float                 # on the full model's calibrated probability
    screen_threshold: float          # below it on the screen: cleared without embedding
    card: dict[str, Any] = field(default_factory=dict)
    screen_emb: np.ndarray | None = None   # over the screen's static vectors, if it has any

    @property
    def indirect_threshold(self) -> float:
        """The threshold for documents and tool output (chosen on their validation rows;
        the general one when the card has none)."""
        return float(self.card.get("indirect_threshold", self.threshold))

    def screen(self, chars: sparse.csr_matrix, vectors: np.ndarray | None = None
               ) -> np.ndarray:
        """Calibrated screen probabilities, one per row of `chars` (and of `vectors`, the
        screen encoder's, where the spec names one)."""
        z = chars @ self.screen_char + self.screen_bias
        if self.screen_emb is not None:
            assert vectors is not None, "this head's screen reads sentence vectors"
            z = z + vectors @ self.screen_emb
        return self.screen_platt(np.asarray(z, dtype=np.float64).ravel())

    def full(self, chars: sparse.csr_matrix, vectors: np.ndarray) -> np.ndarray:
        """Calibrated full-model probabilities, one per row."""
        z = chars @ self.full_char + vectors @ self.full_emb + self.full_bias
        return self.full_platt(np.asarray(z, dtype=np.float64).ravel())

    # --- files ---------------------------------------------------------------------------
    def save(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        weights = directory / f"{self.name}.npz"
        with weights.open("wb") as f:
            arrays: dict[str, Any] = {"screen_char": self.screen_char.astype(np.float16),
                                      "full_char": self.full_char.astype(np.float16),
                                      "full_emb": self.full_emb.astype(np.float32)}
            if self.screen_emb is not None:
                arrays["screen_emb"] = self.screen_emb.astype(np.float32)
            np.savez_compressed(f, **arrays)
        card = {**self.card, "name": self.name, "features": self.spec.to_dict(),
                "screen": {"bias": self.screen_bias, "platt": [self.screen_platt.slope,
                                                               self.screen_platt.offset],
                           "threshold": self.screen_threshold},
                "full": {"bias": self.full_bias, "platt": [self.full_platt.slope,
                                                           self.full_platt.offset],
                         "threshold": self.threshold}}
        card_path = directory / f"{self.name}.json"
        card_path.write_text(json.dumps(card, indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")
        return weights, card_path

    @classmethod
    def load(cls, card_text: str, weights: Any) -> Head:
        """From a card's JSON text and the opened `.npz` (a path or a binary file)."""
        card = json.loads(card_text)
        with np.load(weights) as arrays:
            screen_char = arrays["screen_char"].astype(np.float32)
            full_char = arrays["full_char"].astype(np.float32)
            full_emb = arrays["full_emb"].astype(np.float32)
            screen_emb = arrays["screen_emb"].astype(np.float32) \
                if "screen_emb" in arrays.files else None
        screen, full = card["screen"], card["full"]
        return cls(name=card["name"], spec=FeatureSpec.from_dict(card["features"]),
                   screen_char=screen_char, screen_bias=float(screen["bias"]),
                   screen_platt=Platt(*map(float, screen["platt"])), full_char=full_char,
                   full_emb=full_emb, full_bias=float(full["bias"]),
                   full_platt=Platt(*map(float, full["platt"])),
                   threshold=float(full["threshold"]),
                   screen_threshold=float(screen["threshold"]), card=card,
                   screen_emb=screen_emb)
