"""Hash chain over audit records. Pure functions: no database, no clock.

record_hash = SHA-256(prev_hash || canonical JSON of the record body). Any edit, deletion or
reordering changes some later hash, and verify() names the first record where that shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode()).hexdigest()


@dataclass(frozen=True)
class ChainRecord:
    seq: int
    body: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify(records: Iterable[ChainRecord], start_hash: str = GENESIS) -> ChainProblem | None:
    """The first broken link, or None when the chain is intact."""
    expected_prev = start_hash
    last_seq: int | None = None
    for record in records:
        if last_seq is not None and record.seq != last_seq + 1:
            return ChainProblem(record.seq, f"gap after record {last_seq}: records were deleted")
        if record.prev_hash != expected_prev:
            return ChainProblem(record.seq, "prev_hash does not match the previous record "
                                            "(deleted or reordered records)")
        if link_hash(record.prev_hash, record.body) != record.hash:
            return ChainProblem(record.seq, "content does not match its hash (modified record)")
        expected_prev = record.hash
        last_seq = record.seq
    return None
