"""Merkle root over a version's chunk hashes (sorted, so insertion order does not matter).

Leaves and inner nodes are hashed with different prefixes (RFC 6962 style), and an odd node
is promoted rather than paired with itself, so no two different sets share a root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_LEAF = b"\x00"
_NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def merkle_root(chunk_hashes: Iterable[str]) -> str:
    leaves = sorted(set(chunk_hashes))
    if not leaves:
        return EMPTY_ROOT
    level = [hashlib.sha256(_LEAF + bytes.fromhex(h)).digest() for h in leaves]
    while len(level) > 1:
        paired = [hashlib.sha256(_NODE + level[i] + level[i + 1]).digest()
                  for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()
