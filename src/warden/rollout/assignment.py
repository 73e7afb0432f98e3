"""Which arm a request goes to (pure).

A/B assignment is sticky per API key: the key id and the rollout id hash to a point in
[0, 1), and the key sees the challenger while that point is below the share. The same key
always lands on the same side, and raising the share only moves keys from champion to
challenger (never back), so a user does not flip between arms as a rollout widens.

Shadow copies are sampled per request (by its id) at the share: one key's traffic is spread
over both, and each copy is independent of who sent it.
"""

from __future__ import annotations

import hashlib

from warden.rollout.arms import CHALLENGER, CHAMPION

_SCALE = float(1 << 64)


def point(*parts: str) -> float:
    """A uniform point in [0, 1) from the SHA-256 of the parts (NUL-separated)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(key_id: str, rollout: str, share: float) -> str:
    """The arm a key sees in an A/B rollout with the challenger at `share` (0..1)."""
    return CHALLENGER if point("ab", rollout, key_id) < share else CHAMPION


def shadow_sampled(request_id: str, rollout: str, share: float) -> bool:
    """Whether this request also gets a shadow copy to the challenger."""
    return point("shadow", rollout, request_id) < share
