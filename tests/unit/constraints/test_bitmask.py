"""The bitmask applier against a plain reference, on every path and awkward sizes."""

from __future__ import annotations

import numpy as np
import pytest

from warden.constraints.bitmask import BitmaskApplier


def reference(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    out = logits.copy()
    out[: allowed.size][~allowed] = -np.inf
    out[allowed.size:] = -np.inf
    return out


@pytest.mark.parametrize("n", [1, 31, 32, 33, 1000, 49152, 49157])
@pytest.mark.parametrize("density", [0.0, 0.001, 0.03, 0.5, 0.97, 0.999, 1.0])
def test_matches_reference_bit_for_bit(n: int, density: float) -> None:
    rng = np.random.default_rng(n)
    allowed = rng.random(n) < density
    applier = BitmaskApplier(n)
    packed = np.packbits(allowed, bitorder="little")
    applier.mask.view(np.uint8)[:] = 0
    applier.mask.view(np.uint8)[: packed.size] = packed
    logits = rng.normal(size=n + 3).astype(np.float32)
    logits[::7] = np.inf  # even +inf is lowered when disallowed
    logits[1::11] = np.nan  # a NaN is lowered to -inf too, or kept when allowed
    expected = reference(logits, allowed)
    before = logits.copy()
    if not allowed.any():
        assert applier.apply(logits) is False
        assert logits.tobytes() == before.tobytes()  # untouched: the caller raises instead
        return
    assert applier.apply(logits) is True
    assert logits.view(np.int32).tolist() == expected.view(np.int32).tolist()
    assert applier.allowed().tolist() == allowed.tolist()
