"""Mask correctness on the real SmolLM2 vocabulary (read from the GGUF, vocab only).

A helper drives the constraint through a target JSON text using only allowed tokens (the
longest allowed piece that continues the text), then the tests check what the mask allows
at that point: everything that could continue a valid document, and nothing else.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest

from warden.constraints import ConstraintFactory, JsonSchemaConstraint

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 5},
        "age": {"type": "integer"},
        "color": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
    "required": ["name", "age", "color", "tags"],
    "additionalProperties": False,
}


@cache
def pieces(factory: ConstraintFactory) -> tuple[bytes, ...]:
    tok = factory.vocab.tokenizer
    return tuple(tok.decode_bytes([t]) for t in range(factory.n_vocab))


def allowed_pieces(factory: ConstraintFactory, c: JsonSchemaConstraint) -> set[bytes]:
    table = pieces(factory)
    return {table[t] for t in c.allowed_tokens()}


def drive(factory: ConstraintFactory, c: JsonSchemaConstraint, text: str) -> None:
    """Feed `text` through the mask, always choosing the longest allowed matching piece."""
    table = pieces(factory)
    rest = text.encode()
    while rest:
        options = [t for t in c.allowed_tokens() if table[t] and rest.startswith(table[t])]
        assert options, f"the mask does not allow any piece of {rest!r}"
        token = max(options, key=lambda t: len(table[t]))
        c.accept(token)
        rest = rest[len(table[token]):]


@pytest.fixture
def c(smollm2_factory: ConstraintFactory) -> JsonSchemaConstraint:
    return smollm2_factory.json_schema(SCHEMA)


def test_vocabulary_comes_from_the_gguf(smollm2_factory: ConstraintFactory) -> None:
    assert smollm2_factory.n_vocab == 49152
    assert 2 in smollm2_factory.eog_tokens  # <|im_end|>, what the chat template ends with
    assert pieces(smollm2_factory)[2] in (b"", b"<|im_end|>", b"\xff<|im_end|>")


def test_document_start(smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    start = allowed_pieces(smollm2_factory, c)
    assert start and all(b'{"name'.startswith(p) for p in start)
    assert not set(c.allowed_tokens()) & set(smollm2_factory.eog_tokens)


def test_integer_position(smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    drive(smollm2_factory, c, '{"name": "Bob", "age": ')
    ok = allowed_pieces(smollm2_factory, c)
    assert ok and all(re.fullmatch(rb"-|-?[0-9]+", p) for p in ok), sorted(ok)[:20]
    # Nothing that breaks the document: no closing, quoting, literals or end of text.
    table = pieces(smollm2_factory)
    for bad in (b"}", b",", b'"', b" ", b"null", b"true", b"1.5"):
        assert bad not in ok
    assert not set(c.allowed_tokens()) & set(smollm2_factory.eog_tokens)
    assert all(not table[t].startswith(b"\xff") for t in c.allowed_tokens())


def test_after_a_number(smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    drive(smollm2_factory, c, '{"name": "Bob", "age": 0')
    ok = allowed_pieces(smollm2_factory, c)
    # No leading zeros; the next property is required, so only "," can follow.
    assert ok and all(p.startswith(b",") for p in ok), sorted(ok)


def test_enum_position(smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    # Drive up to the colon only: llguidance lets forced text (here ' "') be written only
    # in its canonical tokens, so a lone trailing space is not a piece the mask offers.
    drive(smollm2_factory, c, '{"name": "Bob", "age": 41, "color":')
    ok = allowed_pieces(smollm2_factory, c)
    values = [b' "red", ', b' "green", ', b' "blue", ']
    assert ok and all(any(v.startswith(p) for v in values) for p in ok), sorted(ok)
    drive(smollm2_factory, c, ' "gr')
    assert all(b'een", '.startswith(p) for p in allowed_pieces(smollm2_factory, c))


def test_string_max_length(smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    drive(smollm2_factory, c, '{"name": "Ab')

    def content(piece: bytes) -> int:
        """Characters a piece adds to the string before closing it."""
        return len(piece.split(b'"')[0].decode("utf-8", "replace"))

    inside = allowed_pieces(smollm2_factory, c)
    assert max(content(p) for p in inside) == 3  # 5 characters at most, 2 written
    assert b"ing" in inside and b"ings" not in inside
    drive(smollm2_factory, c, "ing")
    assert all(p.startswith(b'"') for p in allowed_pieces(smollm2_factory, c))


def test_array_max_items(smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    drive(smollm2_factory, c, '{"name": "Bob", "age": 41, "color": "red", "tags": ["a", "b"')
    assert all(p.startswith(b"]") for p in allowed_pieces(smollm2_factory, c))


def test_complete_document_allows_only_end_of_generation(
        smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    drive(smollm2_factory, c,
          '{"name": "Bob", "age": 41, "color": "red", "tags": ["a"]}')
    assert c.is_finished()
    assert set(c.allowed_tokens()) == set(smollm2_factory.eog_tokens)
    logits = np.zeros(smollm2_factory.n_vocab, dtype=np.float32)
    c.apply(logits)
    assert set(np.flatnonzero(np.isfinite(logits)).tolist()) == set(smollm2_factory.eog_tokens)


def test_mask_matches_allowed_tokens_on_a_full_row(
        smollm2_factory: ConstraintFactory, c: JsonSchemaConstraint) -> None:
    drive(smollm2_factory, c, '{"name": "')
    expected = c.allowed_tokens()
    rng = np.random.default_rng(3)
    logits = rng.normal(size=smollm2_factory.n_vocab).astype(np.float32)
    before = logits.copy()
    c.apply(logits)
    finite = np.flatnonzero(np.isfinite(logits))
    assert finite.tolist() == expected
    assert logits[finite].tobytes() == before[finite].tobytes()


def test_vocabulary_is_built_once_per_model_file(smollm2_factory: ConstraintFactory) -> None:
    from warden.engine.model_files import builtin_model_path

    again = ConstraintFactory(builtin_model_path())
    assert again.vocab is smollm2_factory.vocab
