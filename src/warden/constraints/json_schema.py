"""JSON-schema output as a per-sequence token mask (llguidance).

    factory = ConstraintFactory(model_path)           # once per model: ~1 s, cached
    constraint = factory.json_schema(schema)          # per request: checks limits, compiles
                                                      # (cached by canonical JSON), may raise
                                                      # SchemaRejected -> HTTP 400
    # scheduler thread, per generated token: see base.py
    constraint.apply(logits); constraint.accept(token); constraint.is_finished()

There is no fallback: a schema that cannot be compiled raises, and a matcher that fails
mid-generation raises ConstraintViolation. Output is never produced unconstrained.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import llguidance

from warden.constraints.base import (
    ConstraintViolation,
    LogitsLike,
    NoTokenAllowed,
    SchemaRejected,
    logits_view,
)
from warden.constraints.bitmask import BitmaskApplier
from warden.constraints.limits import SchemaLimits, check_schema
from warden.constraints.vocab import ModelVocab, load_model_vocab

if TYPE_CHECKING:  # a TypedDict that exists only in llguidance's stub, not at run time
    from llguidance._lib import JsonCompileOptions


@dataclass(frozen=True)
class JsonFormat:
    """How the JSON is laid out. Fixed separators and no free whitespace by default: a small
    model given "any whitespace" can loop on newlines until max_tokens, and the output is
    then truncated JSON. These separators read like json.dumps output."""

    item_separator: str = ", "
    key_separator: str = ": "
    whitespace_flexible: bool = False

    def options(self) -> JsonCompileOptions:
        return {"item_separator": self.item_separator, "key_separator": self.key_separator,
                "whitespace_flexible": self.whitespace_flexible,
                # Never approximate: oneOf that is not provably exclusive is rejected, and
                # unknown keywords are errors (also overrides any "x-guidance" in the schema).
                "coerce_one_of": False, "lenient": False}


class JsonSchemaConstraint:
    """One sequence's JSON-schema mask. Not thread-safe: the scheduler thread owns it."""

    def __init__(self, matcher: llguidance.LLMatcher, vocab: ModelVocab) -> None:
        self._matcher = matcher
        self._n_vocab = vocab.n_vocab
        self._applier = BitmaskApplier(vocab.n_vocab)
        self._mask_ptr = self._applier.mask.ctypes.data
        self._mask_bytes = self._applier.mask.nbytes
        self._mask_ready = False
        self.tokens_accepted = 0
        # The first mask now, on the caller's thread (the route compiles off the event
        # loop), so the scheduler thread's first step only writes it.
        self._compute_mask()

    def _compute_mask(self) -> None:
        matcher = self._matcher
        # Computes the mask in Rust straight into our int32 buffer, without the GIL.
        matcher.unsafe_compute_mask_ptr(self._mask_ptr, self._mask_bytes)
        if matcher.is_error():
            raise ConstraintViolation(f"json_schema constraint failed: {matcher.get_error()}")
        self._mask_ready = True

    def apply(self, logits: LogitsLike) -> None:
        view = logits_view(logits, self._n_vocab)
        if not self._mask_ready:
            self._compute_mask()
        if not self._applier.apply(view):
            raise NoTokenAllowed("json_schema allows no token here")

    def accept(self, token: int) -> None:
        self._mask_ready = False
        if not self._matcher.consume_token(token):
            raise ConstraintViolation(
                f"token {token} breaks the json_schema (was it sampled from unmasked "
                f"logits?): {self._matcher.get_error()}")
        self.tokens_accepted += 1
        if not self._matcher.is_stopped():
            # Compute the next mask now, while the parser state is hot in the CPU cache:
            # after llama_decode has streamed the model weights through it, the same work
            # took about twice as long (0.29 vs 0.13 ms median per token, SmolLM2).
            self._compute_mask()

    def is_finished(self) -> bool:
        # Stopped = nothing but EOS can follow. An error state is also "stopped" in
        # llguidance; that is not a finished document.
        return self._matcher.is_stopped() and not self._matcher.is_error()

    def is_accepting(self) -> bool:
        """The text so far is a complete document (EOS allowed), though it may go on."""
        return self._matcher.is_accepting()

    def allowed_tokens(self) -> list[int]:
        """The tokens allowed next (diagnostics and tests)."""
        if not self._mask_ready:
            self._compute_mask()
        return [int(t) for t in self._applier.allowed().nonzero()[0]]


class ConstraintFactory:
    """Builds constraints for one model. Thread-safe: routes may compile concurrently (do it
    off the event loop, e.g. asyncio.to_thread: a large schema can take tens of ms)."""

    def __init__(self, model_path: str | os.PathLike[str], *,
                 limits: SchemaLimits | None = None, json_format: JsonFormat | None = None,
                 cache_size: int = 128) -> None:
        self._init(load_model_vocab(model_path), limits, json_format, cache_size)

    @classmethod
    def from_vocab(cls, vocab: ModelVocab, *, limits: SchemaLimits | None = None,
                   json_format: JsonFormat | None = None,
                   cache_size: int = 128) -> ConstraintFactory:
        factory = cls.__new__(cls)
        factory._init(vocab, limits, json_format, cache_size)
        return factory

    def _init(self, vocab: ModelVocab, limits: SchemaLimits | None,
              json_format: JsonFormat | None, cache_size: int) -> None:
        self.vocab = vocab
        self.limits = limits or SchemaLimits()
        self.json_format = json_format or JsonFormat()
        self._cache_size = cache_size
        self._compiled: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        self._lock = threading.Lock()
        self.compiles = 0  # how many schemas were actually compiled (cache misses)

    @property
    def n_vocab(self) -> int:
        return self.vocab.n_vocab

    @property
    def eog_tokens(self) -> tuple[int, ...]:
        return self.vocab.eog_tokens

    def json_schema(self, schema: Mapping[str, Any]) -> JsonSchemaConstraint:
        """A fresh constraint for `schema`; raises SchemaRejected (a client error)."""
        template = self._template(schema)
        try:
            return JsonSchemaConstraint(template.deep_copy(), self.vocab)
        except ConstraintViolation as exc:  # the very first mask already fails: the schema
            raise SchemaRejected(f"json_schema could not be compiled: {exc}") from exc

    def _template(self, schema: Mapping[str, Any]) -> llguidance.LLMatcher:
        key = check_schema(schema, self.limits)
        with self._lock:
            cached = self._compiled.get(key)
            if cached is not None:
                self._compiled.move_to_end(key)
                return cached
        matcher = self._compile(key)  # outside the lock: other schemas may compile meanwhile
        with self._lock:
            self._compiled[key] = matcher
            self._compiled.move_to_end(key)
            while len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        return matcher

    def _compile(self, canonical: str) -> llguidance.LLMatcher:
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                canonical, overrides=self.json_format.options())
        except ValueError as exc:
            raise SchemaRejected(f"json_schema could not be compiled: {exc}") from exc
        matcher = llguidance.LLMatcher(self.vocab.tokenizer, grammar, log_level=0,
                                       limits=llguidance.LLParserLimits(verbose_errors=False))
        if matcher.is_error():
            raise SchemaRejected(f"json_schema could not be compiled: {matcher.get_error()}")
        self.compiles += 1
        return matcher
