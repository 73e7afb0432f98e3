"""Mask correctness on a toy vocabulary: what is allowed, EOS, in-place edits, composition."""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from tests.unit.constraints.conftest import EOS, TOY_TOKENS, toy_id

from warden.constraints import (
    ConstraintFactory,
    ConstraintViolation,
    JsonSchemaConstraint,
    NoTokenAllowed,
    SchemaLimits,
    SchemaRejected,
    TokenConstraint,
    apply_all,
)
from warden.constraints.vocab import ModelVocab

PERSON = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def allowed(constraint: JsonSchemaConstraint) -> set[bytes]:
    return {TOY_TOKENS[t] for t in constraint.allowed_tokens()}


def feed(constraint: JsonSchemaConstraint, *pieces: bytes) -> None:
    for piece in pieces:
        constraint.accept(toy_id(piece))


def test_is_a_token_constraint(toy_factory: ConstraintFactory) -> None:
    assert isinstance(toy_factory.json_schema(PERSON), TokenConstraint)


def test_mask_follows_a_valid_prefix(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema(PERSON)
    assert b"<eos>" not in allowed(c)
    feed(c, b'{"', b"a", b'":', b" ")
    # An integer must come next: no quote, brace, comma, literal or EOS.
    assert allowed(c) == {b"1", b"2", b"-"}
    feed(c, b"1")
    # More digits, or close / continue the object (extra properties are allowed by
    # default); not ".", not "}}" (nothing to close after the object), not EOS.
    assert allowed(c) == {b"1", b"2", b"}", b","}
    assert not c.is_finished()


def test_eos_only_when_complete_then_finished(toy_factory: ConstraintFactory) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    c = toy_factory.json_schema(schema)
    feed(c, b'{"', b"a", b'":', b" ", b"1")
    assert b"<eos>" not in allowed(c)  # "{"a": 1" is not a document yet
    feed(c, b"}")
    assert c.is_finished()
    assert allowed(c) == {b"<eos>"}
    c.accept(EOS)
    assert c.is_finished()


def test_accepting_but_extendable_allows_eos_without_finishing(
        toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema({"type": "integer"})
    feed(c, b"1")
    assert {b"<eos>", b"1", b"2"} <= allowed(c)
    assert c.is_accepting() and not c.is_finished()
    c.accept(EOS)
    assert c.is_finished()


def test_special_tokens_never_allowed_inside_strings(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema({"type": "string"})
    feed(c, b'"')
    inside = allowed(c)
    assert b"<tool>" not in inside and b"<eos>" not in inside
    assert {b"a", b"ab", b"x", b"1", b'"'} <= inside


def test_enum_allows_only_its_values(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema({"enum": ["ab", "b"]})
    feed(c, b'"')
    assert allowed(c) == {b"a", b"ab", b"b"}
    feed(c, b"a")
    assert allowed(c) == {b"b"}


def test_token_outside_the_mask_raises(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema(PERSON)
    with pytest.raises(ConstraintViolation, match="breaks the json_schema"):
        c.accept(toy_id(b"}"))
    # The matcher stays failed: it can never hand out an unconstrained mask afterwards.
    with pytest.raises(ConstraintViolation):
        c.apply(np.zeros(len(TOY_TOKENS), dtype=np.float32))


def test_apply_only_lowers_and_keeps_allowed_logits_bit_exact(
        toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema(PERSON)
    feed(c, b'{"', b"a", b'":', b" ")
    rng = np.random.default_rng(7)
    logits = rng.normal(size=len(TOY_TOKENS)).astype(np.float32)
    logits[toy_id(b"x")] = np.inf  # even +inf of a disallowed token is lowered
    before = logits.copy()
    c.apply(logits)
    ok = [toy_id(p) for p in (b"1", b"2", b"-")]
    assert logits[ok].tobytes() == before[ok].tobytes()
    rest = np.setdiff1d(np.arange(len(TOY_TOKENS)), ok)
    assert np.all(logits[rest] == -np.inf)
    assert np.all(logits <= before)


def test_apply_edits_a_ctypes_buffer_in_place(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema(PERSON)
    buf = (ctypes.c_float * len(TOY_TOKENS))(*([1.0] * len(TOY_TOKENS)))
    c.apply(ctypes.cast(buf, ctypes.POINTER(ctypes.c_float)))
    finite = [i for i, v in enumerate(buf) if v != float("-inf")]
    assert finite == [toy_id(b'{"')]


def test_wider_rows_have_their_padding_masked(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema(PERSON)
    logits = np.zeros(len(TOY_TOKENS) + 7, dtype=np.float32)
    c.apply(logits)
    assert np.all(logits[len(TOY_TOKENS):] == -np.inf)
    with pytest.raises(ValueError, match="entries"):
        c.apply(np.zeros(3, dtype=np.float32))


class ForbiddenTokens:
    """A stand-in for the forbidden-token mask: the same only-lower contract."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = tokens

    def apply(self, logits: Any) -> None:
        logits[self.tokens] = -np.inf

    def accept(self, token: int) -> None:
        assert token not in self.tokens

    def is_finished(self) -> bool:
        return False


@pytest.mark.parametrize("order", ["schema-first", "forbidden-first"])
def test_composition_is_the_intersection_in_any_order(toy_factory: ConstraintFactory,
                                                      order: str) -> None:
    c = toy_factory.json_schema(PERSON)
    feed(c, b'{"', b"a", b'":', b" ")
    forbid = ForbiddenTokens([toy_id(b"1")])
    chain: list[TokenConstraint] = [c, forbid] if order == "schema-first" else [forbid, c]
    logits = apply_all(chain, np.zeros(len(TOY_TOKENS), dtype=np.float32), len(TOY_TOKENS))
    assert {TOY_TOKENS[t] for t in np.flatnonzero(np.isfinite(logits))} == {b"2", b"-"}


def test_composition_that_leaves_nothing_raises(toy_factory: ConstraintFactory) -> None:
    c = toy_factory.json_schema(PERSON)
    forbid = ForbiddenTokens([toy_id(b'{"')])  # the only way this schema can start
    with pytest.raises(NoTokenAllowed):
        apply_all([c, forbid], np.zeros(len(TOY_TOKENS), dtype=np.float32), len(TOY_TOKENS))


def test_compiled_once_per_schema_and_states_are_independent(
        toy_factory: ConstraintFactory) -> None:
    first = toy_factory.json_schema(PERSON)
    second = toy_factory.json_schema(dict(PERSON))
    assert toy_factory.compiles == 1
    feed(first, b'{"', b"a")
    assert allowed(second) == {b'{"'}
    assert allowed(first) == {b'":'}


def test_property_order_is_the_schema_order(toy_factory: ConstraintFactory) -> None:
    schema = {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "integer"}},
              "required": ["b", "a"]}
    c = toy_factory.json_schema(schema)
    feed(c, b'{"')
    assert allowed(c) == {b"b"}


def test_cache_is_bounded(toy_factory: ConstraintFactory) -> None:
    small = ConstraintFactory.from_vocab(toy_factory.vocab, cache_size=2)
    for n in range(4):
        small.json_schema({"type": "integer", "maximum": n})
    small.json_schema({"type": "integer", "maximum": 0})
    assert small.compiles == 5
    small.json_schema({"type": "integer", "maximum": 3})
    assert small.compiles == 5


@pytest.mark.parametrize(("schema", "reason"), [
    ({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}, "oneOf"),
    ({"type": "string", "format": "bogus"}, "Unknown format: bogus"),
    ({"type": "object", "required": ["a"], "additionalProperties": False}, "unsatisfiable"),
    ({"type": "string", "pattern": "(unclosed"}, ""),
])
def test_compile_errors_raise_never_fall_back(toy_factory: ConstraintFactory,
                                              schema: dict[str, Any], reason: str) -> None:
    with pytest.raises(SchemaRejected, match=r"^json_schema could not be compiled: ") as info:
        toy_factory.json_schema(schema)
    assert reason in str(info.value)
    assert info.value.limit is None


def test_limits_apply_before_compiling(toy_vocab: ModelVocab) -> None:
    factory = ConstraintFactory.from_vocab(toy_vocab, limits=SchemaLimits(max_depth=2))
    with pytest.raises(SchemaRejected, match="nesting depth 3 exceeds the limit of 2"):
        factory.json_schema({"type": "array", "items": {"type": "array",
                                                        "items": {"type": "integer"}}})
    assert factory.compiles == 0


def test_factory_is_safe_to_use_from_many_threads(toy_factory: ConstraintFactory) -> None:
    schemas = [{"type": "integer", "maximum": i % 5} for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        constraints = list(pool.map(toy_factory.json_schema, schemas))
    # Every constraint got its own, working matcher (maximum 0 allows "0" only, which the
    # toy vocabulary lacks, so it may offer just "-"; all others offer digits too).
    assert all(c.allowed_tokens() for c in constraints)
    assert 5 <= toy_factory.compiles <= 40
