"""The thin ctypes layer over llama.cpp that the scheduler needs: one context with a KV stream
per sequence, a reusable llama_batch, per-sequence samplers and KV edits.

Everything here runs on the scheduler thread only; llama.cpp contexts are not thread-safe.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp._internals import LlamaModel


class DecodeError(RuntimeError):
    pass


@dataclass(frozen=True)
class BatchEntry:
    """One token in the next llama_decode: whose, where, and whether we need its logits."""

    seq_id: int
    token: int
    pos: int
    want_logits: bool


class NativeContext:
    def __init__(self, model: LlamaModel, *, n_ctx_per_seq: int, n_seq: int, n_batch: int,
                 n_threads: int, kv_unified: bool = False, n_ubatch: int | None = None) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx_per_seq * n_seq
        params.n_batch = n_batch
        params.n_ubatch = n_ubatch or n_batch
        params.n_seq_max = n_seq
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        # One KV stream per sequence (the default): a sequence's attention never spans
        # another's cells, so its numbers do not depend on who else is in the batch.
        params.kv_unified = kv_unified
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(model.model, params)
        if not self._ctx:
            raise DecodeError("llama.cpp could not create a context (out of memory?)")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self.n_batch = n_batch
        self.n_seq = n_seq
        self.n_ctx_per_seq = llama_cpp.llama_n_ctx_seq(self._ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.n_vocab = model.n_vocab()
        self.can_shift = bool(llama_cpp.llama_memory_can_shift(self._memory))

    def close(self) -> None:
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None

    @property
    def raw(self) -> Any:
        return self._ctx

    def decode(self, entries: list[BatchEntry]) -> dict[int, int]:
        """Run one llama_decode; return {entry index: logits row} for entries that want them."""
        batch = self._batch
        rows: dict[int, int] = {}
        for i, entry in enumerate(entries):
            batch.token[i] = entry.token
            batch.pos[i] = entry.pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = entry.seq_id
            batch.logits[i] = 1 if entry.want_logits else 0
            if entry.want_logits:
                rows[i] = i
        batch.n_tokens = len(entries)
        status = llama_cpp.llama_decode(self._ctx, batch)
        if status != 0:
            raise DecodeError(f"llama_decode returned {status}")
        return rows

    def logits(self, row: int) -> Any:
        return llama_cpp.llama_get_logits_ith(self._ctx, row)

    def mask(self, row: int, banned: Iterable[int]) -> None:
        """Make tokens impossible for one logits row: -inf survives every sampler stage."""
        ids = list(banned)
        if not ids:
            return
        pointer = llama_cpp.llama_get_logits_ith(self._ctx, row)
        logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
        logits[ids] = -np.inf

    def forget(self, seq_id: int, p0: int = -1, p1: int = -1) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory, seq_id, p0, p1)

    def shift(self, seq_id: int, p0: int, p1: int, delta: int) -> None:
        llama_cpp.llama_memory_seq_add(self._memory, seq_id, p0, p1, delta)

    def copy(self, src: int, dst: int, p0: int, p1: int) -> None:
        llama_cpp.llama_memory_seq_cp(self._memory, src, dst, p0, p1)

    def max_pos(self, seq_id: int) -> int:
        return int(llama_cpp.llama_memory_seq_pos_max(self._memory, seq_id))


class Sampler:
    """A llama.cpp sampler chain for one sequence: greedy at temperature 0, else
    logit bias → top-k → top-p → temperature → seeded draw."""

    def __init__(self, *, temperature: float, top_k: int, top_p: float, seed: int,
                 n_vocab: int, logit_bias: dict[int, float] | None = None) -> None:
        params = llama_cpp.llama_sampler_chain_default_params()
        params.no_perf = True
        self._chain = llama_cpp.llama_sampler_chain_init(params)
        if logit_bias:
            array = (llama_cpp.llama_logit_bias * len(logit_bias))()
            for i, (token, bias) in enumerate(logit_bias.items()):
                array[i].token = llama_cpp.llama_token(token)
                array[i].bias = bias
            self._bias_array = array  # llama.cpp copies it, but keep it alive for the call
            self._add(llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(logit_bias), array))
        if temperature <= 0:
            self._add(llama_cpp.llama_sampler_init_greedy())
            return
        if top_k > 0:
            self._add(llama_cpp.llama_sampler_init_top_k(top_k))
        if top_p < 1.0:
            self._add(llama_cpp.llama_sampler_init_top_p(top_p, 1))
        self._add(llama_cpp.llama_sampler_init_temp(temperature))
        self._add(llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def _add(self, sampler: Any) -> None:
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def sample(self, ctx: NativeContext, row: int) -> int:
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx.raw, row))

    def close(self) -> None:
        if self._chain:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None


def token_piece(model: LlamaModel, token: int) -> bytes:
    """The bytes of one token as text (special tokens rendered empty)."""
    buf = ctypes.create_string_buffer(64)
    vocab = model.vocab
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
    return buf.raw[:n]
