"""Fixtures: a toy vocabulary (no model file needed) and the real SmolLM2 vocabulary."""

from __future__ import annotations

import pytest

from warden.constraints import ConstraintFactory
from warden.constraints.vocab import ModelVocab

EOS = 0
# Index = token id. Multi-byte pieces mimic BPE merges, so the mask must reason about
# tokens that span several grammar symbols (e.g. '", "' closes a string and opens a key).
TOY_TOKENS: list[bytes] = [
    b"<eos>", b"{", b"}", b'"', b":", b",", b" ", b"a", b"b", b"1", b"2", b"[", b"]",
    b'{"', b'":', b'", "', b"true", b"false", b"null", b"ab", b"-", b".", b"x", b"}}",
    b"\n", b"<tool>",
]
TOY_SPECIAL = [0, 25]


def toy_id(piece: bytes) -> int:
    return TOY_TOKENS.index(piece)


def toy_tokenize(text: bytes) -> list[int]:
    """Greedy longest match, skipping bytes no token covers: enough for llguidance's
    tokenizer hook, which the mask itself does not rely on."""
    out: list[int] = []
    i = 0
    while i < len(text):
        matches = [t for t, p in enumerate(TOY_TOKENS)
                   if t not in TOY_SPECIAL and text.startswith(p, i)]
        if not matches:
            i += 1
            continue
        best = max(matches, key=lambda t: len(TOY_TOKENS[t]))
        out.append(best)
        i += len(TOY_TOKENS[best])
    return out


@pytest.fixture(scope="session")
def toy_vocab() -> ModelVocab:
    # Special tokens are marked with a 0xFF prefix, as llguidance's llama.cpp loader does,
    # so grammar text can never match them.
    tokens = [b"\xff" + p if i in TOY_SPECIAL else p for i, p in enumerate(TOY_TOKENS)]
    return ModelVocab.from_tokens(tokens, [EOS], toy_tokenize, special_tokens=TOY_SPECIAL)


@pytest.fixture
def toy_factory(toy_vocab: ModelVocab) -> ConstraintFactory:
    return ConstraintFactory.from_vocab(toy_vocab)


@pytest.fixture(scope="session")
def smollm2_factory() -> ConstraintFactory:
    """The real vocabulary of the built-in model (vocab_only: no weights are loaded)."""
    from warden.engine.model_files import builtin_model_path

    return ConstraintFactory(builtin_model_path())
