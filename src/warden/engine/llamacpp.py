"""In-process llama.cpp engine: one model, generation serialized on one worker thread.

The event loop never blocks on llama.cpp: the worker thread owns the model and hands each
token's text to the loop through call_soon_threadsafe. The batching scheduler replaces the
serialized loop later behind the same Engine protocol.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from warden.config import ModelConfig
from warden.engine.base import (
    Finished,
    FinishReason,
    GenerationRequest,
    PromptTooLong,
    StreamEvent,
    TextDelta,
    Usage,
)
from warden.engine.model_files import resolve_model_path
from warden.engine.text_assembler import TextAssembler

log = logging.getLogger(__name__)

_END = object()


@dataclass
class _Job:
    request: GenerationRequest
    prompt_tokens: list[int]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


def _log_worker_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("llama.cpp worker failed", exc_info=future.exception())


class LlamaCppEngine:
    def __init__(self, config: ModelConfig) -> None:
        self.model_name = config.name
        self._config = config
        self._llm: Any = None
        self._formatter: Any = None
        self._chat_stops: tuple[str, ...] = ()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._jobs: dict[str, _Job] = {}
        self._model_path = ""

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        path = resolve_model_path(self._config.path)
        self._model_path = str(path)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._load, str(path))

    def _load(self, path: str) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        threads = self._config.n_threads or max(1, os.cpu_count() or 1)
        self._llm = Llama(
            model_path=path,
            n_ctx=self._config.n_ctx,
            n_batch=self._config.n_batch,
            n_threads=threads,
            n_threads_batch=threads,
            seed=self._config.seed,
            verbose=False,
        )
        template = self._llm.metadata.get("tokenizer.chat_template")
        if template:
            eos = self._token_text(self._llm.token_eos())
            bos = self._token_text(self._llm.token_bos())
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
            self._chat_stops = (eos,) if eos else ()
        log.info("loaded %s (n_ctx=%d, threads=%d)", path, self._config.n_ctx, threads)

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

    async def close(self) -> None:
        for job in self._jobs.values():
            job.cancelled.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llm = None

    def is_ready(self) -> bool:
        return self._llm is not None

    def metadata(self) -> dict[str, Any]:
        return {
            "backend": "llamacpp",
            "n_ctx": self._config.n_ctx,
            "model_file": os.path.basename(self._model_path),
            "max_concurrency": self._config.max_concurrency,
        }

    # prompts ---------------------------------------------------------------------------
    def render_prompt(self, request: GenerationRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        if self._formatter is None:
            return "\n".join(f"{m['role']}: {m['content']}" for m in request.messages or ()) + \
                "\nassistant:"
        return self._formatter(messages=list(request.messages or ())).prompt

    def _tokenize(self, request: GenerationRequest) -> list[int]:
        text = self.render_prompt(request)
        # Chat templates already carry their special tokens; a raw prompt gets the model's BOS.
        return self._llm.tokenize(text.encode("utf-8"), add_bos=request.prompt is not None,
                                  special=True)

    async def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(self._tokenize(request))

    # generation ------------------------------------------------------------------------
    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        tokens = self._tokenize(request)
        if len(tokens) >= self._config.n_ctx:
            raise PromptTooLong(
                f"The prompt has {len(tokens)} tokens; this model's context is "
                f"{self._config.n_ctx}. Shorten the prompt or messages."
            )
        loop = asyncio.get_running_loop()
        job = _Job(request=request, prompt_tokens=tokens, loop=loop, queue=asyncio.Queue())
        self._jobs[request.request_id] = job
        future = loop.run_in_executor(self._executor, self._run, job)
        try:
            while True:
                item = await job.queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Reached on normal end, on an exception, and when the consumer closes us early
            # (client gone, timeout): the worker sees the flag before its next token.
            # No waiting for the worker here: a timeout or hang-up must answer at once, and
            # the single-thread executor already keeps the next job behind this one.
            job.cancelled.set()
            self._jobs.pop(request.request_id, None)
            future.add_done_callback(_log_worker_failure)

    async def cancel(self, request_id: str) -> None:
        job = self._jobs.get(request_id)
        if job is not None:
            job.cancelled.set()

    def _run(self, job: _Job) -> None:
        try:
            if job.cancelled.is_set():
                job.emit(Finished("cancelled", Usage(len(job.prompt_tokens), 0)))
                return
            self._generate(job)
        except BaseException as exc:
            job.emit(exc)
        finally:
            job.emit(_END)

    def _generate(self, job: _Job) -> None:
        llm = self._llm
        sampling = job.request.sampling
        # Every request evaluates its prompt from scratch. Reusing the previous request's KV
        # prefix would change batch shapes, and with them the low bits of the logits, so
        # temperature 0 would stop being repeatable; it would also let one tenant time
        # another's prompts. The batching engine adds a tenant-scoped prefix cache instead.
        llm.reset()
        if sampling.seed is not None:
            llm.set_seed(sampling.seed)
        stops = tuple(sampling.stop) + (self._chat_stops if job.request.messages else ())
        assembler = TextAssembler(stops)
        budget = min(sampling.max_tokens, self._config.n_ctx - len(job.prompt_tokens))
        eog = llm._model.token_eos()
        produced = 0
        reason: FinishReason = "length"
        started = time.perf_counter()
        previous: list[int] = []
        for token in llm.generate(
            job.prompt_tokens,
            top_k=sampling.top_k if sampling.temperature > 0 else 1,
            top_p=sampling.top_p,
            min_p=0.0,
            temp=sampling.temperature,
            repeat_penalty=1.0,
            reset=True,
        ):
            if job.cancelled.is_set():
                reason = "cancelled"
                break
            if token == eog or self._is_end_of_generation(token):
                reason = "stop"
                break
            produced += 1
            piece = llm.detokenize([token], prev_tokens=previous or None)
            previous.append(token)
            text = assembler.push(piece)
            if text:
                job.emit(TextDelta(text))
            if assembler.stopped:
                reason = "stop"
                break
            if produced >= budget:
                reason = "length"
                break
        tail = assembler.flush()
        if tail:
            job.emit(TextDelta(tail))
        elapsed = time.perf_counter() - started
        job.emit(Finished(reason, Usage(len(job.prompt_tokens), produced),
                          extra={"generation_s": elapsed}))

    def _is_end_of_generation(self, token: int) -> bool:
        import llama_cpp

        vocab = llama_cpp.llama_model_get_vocab(self._llm._model.model)
        return bool(llama_cpp.llama_vocab_is_eog(vocab, token))
