"""The in-process llama.cpp engine: the Engine protocol over the continuous-batching scheduler.

The event loop never blocks on llama.cpp: the scheduler thread owns the model and context
and hands each step's events to the loop in one call_soon_threadsafe (see mailbox.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from typing import Any

from warden.config import ModelConfig
from warden.engine.base import (
    Finished,
    GenerationRequest,
    InvalidRequest,
    PromptTooLong,
    StreamEvent,
)
from warden.engine.batching.forbidden import ForbiddenPhrases
from warden.engine.batching.mailbox import Mailboxes
from warden.engine.batching.native import NativeContext, Sampler, token_piece
from warden.engine.batching.priority import PriorityLatency
from warden.engine.batching.prompts import ChatTemplate
from warden.engine.batching.scheduler import Scheduler, SchedulerLimits
from warden.engine.batching.sequence import Sequence
from warden.engine.model_files import file_sha256, resolve_model_path
from warden.engine.text_assembler import TextAssembler
from warden.engine.waiting_line import Priority, current_priority

log = logging.getLogger(__name__)


class LlamaCppEngine:
    def __init__(self, config: ModelConfig) -> None:
        self.model_name = config.name
        self._config = config
        self._model: Any = None
        self._ctx: NativeContext | None = None
        self._scheduler: Scheduler | None = None
        self._template: ChatTemplate | None = None
        self._live: dict[str, Sequence] = {}
        self._model_path = ""
        self._model_sha256 = ""
        self._kv_bytes_per_token_per_layer = 0
        self._n_layer = 0
        self._forbidden_tables: dict[tuple[str, ...], ForbiddenPhrases] = {}
        self._constraint_factory: Any = None
        self._pieces: list[bytes] = []
        self._mailboxes = Mailboxes()

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        path = resolve_model_path(self._config.path)
        self._model_path = str(path)
        self._model_sha256 = await asyncio.to_thread(file_sha256, path)
        await asyncio.to_thread(self._load, str(path))

    def _load(self, path: str) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaModel
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's own chatter goes to stderr only for errors
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        self._model = LlamaModel(path_model=path, params=params, verbose=False)
        cfg = self._config
        threads = cfg.n_threads or max(1, os.cpu_count() or 1)
        self._ctx = NativeContext(self._model, n_ctx_per_seq=cfg.n_ctx, n_seq=cfg.max_batch,
                                  n_batch=cfg.n_batch, n_threads=threads)
        self._template = ChatTemplate.from_model(self._model)
        # Every token's bytes, once: the scheduler then makes no llama.cpp call (and no GIL
        # hand-off) per generated token to turn it into text.
        self._pieces = [token_piece(self._model, t) for t in range(self._model.n_vocab())]
        eog = {t for t in range(self._model.n_vocab())
               if llama_cpp.llama_vocab_is_eog(self._model.vocab, t)}
        limits = SchedulerLimits(
            max_batch=cfg.max_batch, chunk_size=cfg.chunk_size, n_ctx=self._ctx.n_ctx_per_seq,
            l_switch=min(cfg.l_switch or self._ctx.n_ctx_per_seq, self._ctx.n_ctx_per_seq),
            n_sink=cfg.n_sink, prefix_cache=cfg.prefix_cache)
        self._limits = limits
        self._scheduler = Scheduler(self._ctx, limits, eog, self._pieces.__getitem__,
                                    after_step=self._mailboxes.flush)
        self._scheduler.start()
        self._n_layer = llama_cpp.llama_model_n_layer(self._model.model)
        n_head_kv = llama_cpp.llama_model_n_head_kv(self._model.model)
        n_embd = llama_cpp.llama_model_n_embd(self._model.model)
        n_head = llama_cpp.llama_model_n_head(self._model.model)
        head_dim = n_embd // max(1, n_head)
        # K and V, f16 (2 bytes), one vector of head_dim per KV head.
        self._kv_bytes_per_token_per_layer = 2 * n_head_kv * head_dim * 2
        log.info("loaded %s: max_batch=%d n_ctx/seq=%d l_switch=%d threads=%d", path,
                 cfg.max_batch, self._ctx.n_ctx_per_seq, limits.l_switch, threads)

    async def close(self) -> None:
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.stop)
            self._scheduler = None
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    def is_ready(self) -> bool:
        return self._scheduler is not None

    def metadata(self) -> dict[str, Any]:
        per_4k = self._kv_bytes_per_token_per_layer * 4096
        return {
            "backend": "llamacpp",
            "scheduler": "continuous-batching",
            "model_file": os.path.basename(self._model_path),
            "model_sha256": self._model_sha256,
            "n_ctx": self._config.n_ctx,
            "max_batch": self._config.max_batch,
            "l_switch": getattr(self, "_limits", None) and self._limits.l_switch,
            "n_sink": self._config.n_sink,
            "prefix_cache": self._config.prefix_cache,
            "n_layer": self._n_layer,
            "kv_bytes_per_layer_per_4k_tokens": per_4k,
            "kv_gb_per_layer_per_4k_tokens": round(per_4k / 1e9, 6),
        }

    @property
    def load(self) -> tuple[int, int]:
        return self._scheduler.load if self._scheduler else (0, 0)

    def kv_usage(self) -> float:
        """Share of the KV cache held by running sequences (warden_kv_cache_utilization)."""
        return self._scheduler.kv_usage if self._scheduler else 0.0

    def priority_latency(self) -> PriorityLatency | None:
        """Interactive TTFT and gaps with and without batch work (warden.batch.metrics)."""
        return self._scheduler.latency if self._scheduler else None

    @property
    def preemptions(self) -> int:
        """Batch sequences that gave their slot to an interactive request, so far."""
        return self._scheduler.preemptions if self._scheduler else 0

    # prompts ---------------------------------------------------------------------------
    def _tokenize(self, request: GenerationRequest) -> list[int]:
        tokens: list[int]
        if request.prompt is not None:
            tokens = self._model.tokenize(request.prompt.encode("utf-8"), add_bos=True,
                                          special=True)
            return tokens
        assert self._template is not None
        text = self._template.render(list(request.messages or ()))
        tokens = self._model.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(self._tokenize(request))

    # generation ------------------------------------------------------------------------
    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        assert self._scheduler is not None and self._template is not None
        tokens = self._tokenize(request)
        n_vocab = self._model.n_vocab()
        bad = [t for t, _ in request.sampling.logit_bias if not 0 <= t < n_vocab]
        if bad:
            raise InvalidRequest(f"logit_bias names token ids outside the vocabulary "
                                 f"(0..{n_vocab - 1}): {bad[:5]}")
        limit = self._config.max_prompt_tokens or self._limits.n_ctx - 1
        if len(tokens) > limit:
            raise PromptTooLong(
                f"The prompt has {len(tokens)} tokens; this model accepts at most {limit} "
                "(models[].max_prompt_tokens, or n_ctx - 1). Shorten the prompt or messages.")
        sampling = request.sampling
        constraint = None
        if request.json_schema is not None:  # compiled before anything else is allocated
            constraint = await self._schema_constraint(request.json_schema)
        mailbox = self._mailboxes.for_loop(asyncio.get_running_loop())
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stops = tuple(sampling.stop) + (self._template.stops if request.messages else ())
        seed = sampling.seed if sampling.seed is not None else random.getrandbits(32)
        seq = Sequence(
            request_id=request.request_id, tenant=request.tenant, prompt=tokens,
            max_new_tokens=sampling.max_tokens,
            sampler=Sampler(temperature=sampling.temperature, top_k=sampling.top_k,
                            top_p=sampling.top_p, seed=seed, n_vocab=self._model.n_vocab(),
                            logit_bias=dict(sampling.logit_bias) or None),
            assembler=TextAssembler(stops),
            emit=lambda item: mailbox.post(queue, item),
            use_cache=request.use_cache,
            low_priority=current_priority.get() is Priority.BATCH,
        )
        if sampling.forbidden_phrases:
            seq.forbidden = self._forbidden(sampling.forbidden_phrases)
        if constraint is not None:
            seq.constraints.append(constraint)
        self._live[request.request_id] = seq
        self._scheduler.submit(seq)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Finished):
                    return
        finally:
            self._live.pop(request.request_id, None)
            if seq.finish_reason is None:
                self._scheduler.cancel(seq)

    async def _schema_constraint(self, schema: dict[str, Any]) -> Any:
        from warden.constraints.base import SchemaRejected
        from warden.constraints.json_schema import ConstraintFactory

        if self._constraint_factory is None:
            self._constraint_factory = await asyncio.to_thread(ConstraintFactory,
                                                               self._model_path)
        try:
            return await asyncio.to_thread(self._constraint_factory.json_schema, schema)
        except SchemaRejected as exc:
            raise InvalidRequest(str(exc)) from exc

    def _forbidden(self, phrases: tuple[str, ...]) -> ForbiddenPhrases:
        key = tuple(sorted(set(phrases)))
        table = self._forbidden_tables.get(key)
        if table is None:
            texts = [piece.decode("utf-8", errors="ignore") for piece in self._pieces]
            table = self._forbidden_tables[key] = ForbiddenPhrases(key, texts)
        return table

    def clear_prefix_cache(self) -> bool:
        """Drop every cached prompt prefix (rollout rollback); False when not running."""
        return self._scheduler.clear_prefix_cache() if self._scheduler is not None else False

    async def cancel(self, request_id: str) -> None:
        seq = self._live.get(request_id)
        if seq is not None and self._scheduler is not None:
            self._scheduler.cancel(seq)
