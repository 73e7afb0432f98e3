"""Apply a packed token bitmask (1 bit per token, 1 = allowed) to a float32 logits row.

Exact: an allowed logit keeps its bits, a disallowed one becomes -inf. It only ever lowers
logits, as base.py requires.

JSON masks are nearly always skewed: a handful of tokens allowed (structure) or all but a
few hundred (inside a string). Then `copyto(row, -inf, where=disallowed)` is cheapest: its
branches are predictable and it is few numpy calls, and right after llama_decode has
flushed the CPU caches each numpy call costs 10-20 us on its own (measured live on SmolLM2:
~100 us per token against ~170 us for the dense pass). For masks near half density that
copy mispredicts every other branch (0.3-0.5 ms), so they take a branch-free pass over the
float bits instead: `bits ^= (bits ^ NEG_INF_BITS) & m`, m = -1 where disallowed else 0.
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt

if sys.byteorder != "little":  # the unpacking below assumes it (x86-64 and arm64 are)
    raise ImportError("warden.constraints.bitmask needs a little-endian machine")

NEG_INF_BITS = np.int32(np.array([-np.inf], dtype=np.float32).view(np.int32)[0])


# A mask is "skewed" when at most 1/_SKEWED of the tokens are on one side of it.
_SKEWED = 16
NEG_INF = np.float32(-np.inf)


def bitmask_words(n_vocab: int) -> int:
    return (n_vocab + 31) // 32


class BitmaskApplier:
    """Reusable scratch space for one vocabulary size; not thread-safe (one per sequence)."""

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self.mask = np.zeros(bitmask_words(n_vocab), dtype=np.int32)
        self._inverted = np.empty_like(self.mask)
        # Scratch for the dense pass, allocated on first use: most sequences never need it.
        self._scratch: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]] | None = None

    def allowed(self) -> npt.NDArray[np.bool_]:
        """The mask unpacked to one bool per token (for tests and diagnostics)."""
        bits = np.unpackbits(self.mask.view(np.uint8), count=self.n_vocab, bitorder="little")
        return bits.view(np.bool_)

    def apply(self, logits: npt.NDArray[np.float32]) -> bool:
        """Mask `logits` in place; return False (and leave it untouched) if the mask allows
        no token at all."""
        n = self.n_vocab
        row = logits
        # Bit k of int32 word w is token 32*w + k (llguidance's and xgrammar's layout); on a
        # little-endian machine that is little bit order over the bytes.
        np.invert(self.mask, out=self._inverted)
        disallowed = np.unpackbits(self._inverted.view(np.uint8), count=n,
                                   bitorder="little").view(np.bool_)
        n_disallowed = np.count_nonzero(disallowed)
        if n_disallowed == n:
            return False
        if logits.shape[0] > n:
            # Rows wider than the grammar's vocabulary (padding tokens): never allowed.
            logits[n:] = -np.inf
            row = logits[:n]
        if min(n_disallowed, n - n_disallowed) <= n // _SKEWED:
            # Skewed mask: the masked copy's branches are predictable, and it is the fewest
            # numpy calls (which is what costs most right after llama_decode).
            np.copyto(row, NEG_INF, where=disallowed)
        else:
            self._apply_dense(row, disallowed)
        return True

    def _apply_dense(self, row: npt.NDArray[np.float32],
                     disallowed: npt.NDArray[np.bool_]) -> None:
        bits = row.view(np.int32)
        if self._scratch is None:
            self._scratch = (np.empty(self.n_vocab, np.int32), np.empty(self.n_vocab, np.int32))
        m32, tmp = self._scratch
        np.negative(disallowed.view(np.uint8), out=m32, dtype=np.int32)  # 1 -> -1, 0 -> 0
        np.bitwise_xor(bits, NEG_INF_BITS, out=tmp)
        np.bitwise_and(tmp, m32, out=tmp)
        np.bitwise_xor(bits, tmp, out=bits)
