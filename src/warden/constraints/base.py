"""The contract between the scheduler and any decoding constraint.

Per sequence and per generated token the scheduler does:

    llama_decode(...)
    logits = llama_get_logits_ith(ctx, row)          # ctypes float pointer, n_vocab floats
    apply_all(seq.constraints, logits, n_vocab)      # each constraint only lowers logits
    token = llama_sampler_sample(chain, ctx, row)    # sees the edited logits
    for c in seq.constraints: c.accept(token)        # every sampled token, EOS included
    ... emit the token's text as usual (EOS ends with "stop" as usual) ...
    if any(c.is_finished() for c in seq.constraints): finish "stop"   # before "length"

Any ConstraintError from apply/accept ends that sequence with an error.

Composition rule: `apply` may only ever set logits to -inf (never raise or rescale one), so
the allowed set after several constraints is the intersection of their allowed sets,
whatever the order. A JSON-schema mask and a forbidden-token mask therefore compose by
applying them in turn on the same buffer. If the intersection is empty the sequence must
fail (NoTokenAllowed), never be sampled from an all -inf row: llama.cpp's samplers would
then pick an arbitrary token and the output would leave the constraint silently.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

# A numpy float32 view of one logits row, or the ctypes pointer llama_get_logits_ith returns.
LogitsLike = npt.NDArray[np.float32] | Any


class ConstraintError(Exception):
    """Base of every error raised by warden.constraints."""


class SchemaRejected(ConstraintError, ValueError):
    """The client's schema is refused before or during compilation (maps to HTTP 400).

    `limit` names the configured limit that was exceeded (e.g. "max_depth"), or is None for
    unsupported keywords and compile errors; `value` is what the schema had.
    """

    def __init__(self, message: str, *, limit: str | None = None,
                 value: int | None = None, maximum: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value
        self.maximum = maximum


class ConstraintViolation(ConstraintError, RuntimeError):
    """The constraint can no longer be enforced for this sequence (a token outside the mask
    was accepted, or the parser hit a resource limit). The sequence must end with an error;
    continuing unconstrained is never an option."""


class NoTokenAllowed(ConstraintViolation):
    """The composed masks leave no token at all (e.g. a forbidden-token list that removes
    every continuation the schema allows)."""


@runtime_checkable
class TokenConstraint(Protocol):
    def apply(self, logits: LogitsLike) -> None:
        """Set the logits of disallowed tokens to -inf, in place. Never raises a logit."""

    def accept(self, token: int) -> None:
        """Advance with the token that was sampled (EOS included)."""

    def is_finished(self) -> bool:
        """True once the constraint is complete and allows nothing but EOS: the scheduler
        ends the sequence with finish_reason "stop"."""


def logits_view(logits: LogitsLike, n_vocab: int) -> npt.NDArray[np.float32]:
    """A writable float32 numpy view of one logits row (no copy)."""
    if isinstance(logits, np.ndarray):
        if logits.dtype != np.float32 or logits.ndim != 1:
            raise TypeError(f"logits must be a 1-D float32 array, not {logits.dtype} "
                            f"with shape {logits.shape}")
        if logits.shape[0] < n_vocab:
            raise ValueError(f"logits has {logits.shape[0]} entries; the vocabulary has "
                             f"{n_vocab}")
        return logits
    address = ctypes.cast(logits, ctypes.c_void_p).value
    if not address:
        raise ValueError("logits pointer is NULL (was this row decoded with logits on?)")
    # llama.cpp hands out the same few row addresses step after step; wrapping one costs
    # ~60 us right after llama_decode, a dict hit a few. A hit is always safe: the pointer
    # we were given right now is that address, and the view covers exactly n_vocab floats.
    key = (address, n_vocab)
    view = _views.get(key)
    if view is None:
        if len(_views) >= _MAX_VIEWS:
            _views.clear()
        floats = (ctypes.c_float * n_vocab).from_address(address)
        view = np.frombuffer(memoryview(floats), dtype=np.float32)
        _views[key] = view
    return view


_views: dict[tuple[int, int], npt.NDArray[np.float32]] = {}
_MAX_VIEWS = 256


def apply_all(constraints: Iterable[TokenConstraint], logits: LogitsLike,
              n_vocab: int) -> npt.NDArray[np.float32]:
    """Apply every constraint to one logits row in turn; fail if no token survives.

    Returns the numpy view, so callers can keep using it without re-wrapping the pointer.
    """
    view = logits_view(logits, n_vocab)
    applied = False
    for constraint in constraints:
        constraint.apply(view)
        applied = True
    # max() over the row is a few microseconds; sampling from an all -inf row is a silent
    # escape from the constraint, so the check is worth it.
    if applied and view.max() == -np.inf:
        raise NoTokenAllowed("the decoding constraints leave no allowed token")
    return view
