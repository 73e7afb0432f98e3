"""One request's life inside the batch: prompt progress, position, sampler and output.

A low-priority (batch) sequence can be preempted: it gives up its slot and KV, and later
rebuilds the KV from `replay` (its prompt plus what it generated, or the sink and window it
kept) before it draws its next token, so a preempted line continues where it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden.engine.base import FinishReason
from warden.engine.batching.forbidden import ForbiddenPhrases
from warden.engine.text_assembler import TextAssembler


class TokenSampler(Protocol):
    """Draws the next token from a logits row (native.Sampler: llama.cpp's sampler chain)."""

    def sample(self, ctx: Any, row: int) -> int: ...

    def close(self) -> None: ...


@dataclass
class Sequence:
    request_id: str
    tenant: str
    prompt: list[int]
    max_new_tokens: int
    sampler: TokenSampler
    assembler: TextAssembler
    emit: Callable[[Any], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    slot: int = -1
    order: int = 0              # admission order: prompt chunks are served FIFO
    prefilled: int = 0          # prompt tokens already decoded into the KV
    pos: int = 0                # position of the next token in this sequence's KV
    last_token: int | None = None
    generated: int = 0
    cached_tokens: int = 0      # prompt tokens served from the tenant's prefix cache
    evicted_tokens: int = 0     # tokens dropped by the bounded-memory fallback
    peak_kv_tokens: int = 0     # most KV cells this sequence ever held
    history: list[int] = field(default_factory=list)  # prompt + generated, for the cache
    finish_reason: FinishReason | None = None
    forbidden: ForbiddenPhrases | None = None
    constraints: list[Any] = field(default_factory=list)  # token masks, e.g. a JSON schema
    raw_text: str = ""          # every generated token's text, for the phrase mask
    use_cache: bool = True      # False: no prefix reuse in, no KV kept for reuse after
    low_priority: bool = False  # batch work: paused while interactive work runs, preemptible
    replay: list[int] | None = None  # after a preemption: the tokens that rebuild the KV
    preemptions: int = 0
    last_step: int = 0          # the scheduler tick it last took part in (batch turns)
    submitted_at: float = 0.0   # monotonic time of submit (interactive TTFT in the engine)
    last_emit_at: float | None = None

    @property
    def feed(self) -> list[int]:
        """The tokens to prefill: the prompt, or after a preemption the replay."""
        return self.prompt if self.replay is None else self.replay

    @property
    def prefilling(self) -> bool:
        return self.prefilled < len(self.feed)

    @property
    def decoding(self) -> bool:
        return not self.prefilling and self.last_token is not None

    @property
    def long_context_engaged(self) -> bool:
        return self.evicted_tokens > 0


def resume_tokens(history: list[int], pos: int, n_sink: int, evicted: bool) -> list[int]:
    """What a decoding sequence must prefill to continue after a preemption.

    `history` is every token it decoded plus the last one it drew (not yet decoded), and its
    KV held `pos` cells: all decoded tokens, or after the sliding window engaged the first
    `n_sink` and the newest `pos - n_sink`. Prefilling those and then the drawn token gives
    the same state, so the next draw comes from the same logits."""
    if not evicted:
        return list(history)
    window = pos - n_sink
    return history[:n_sink] + history[len(history) - 1 - window:]
