"""JSON-schema constrained decoding on the real SmolLM2-135M model.

Our own small sampling loop over llama.cpp's low-level API (not the scheduler), doing what
the scheduler will do per token: decode, apply the mask in place on the ctypes logits row,
sample with a llama.cpp sampler chain, accept, stop when the grammar is finished. Every
output must parse and validate with `jsonschema`, at temperature 0 and at 1.0 over seeds.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import llama_cpp
import pytest
from llama_cpp._internals import LlamaModel
from llama_cpp._logger import set_verbose

from warden.constraints import ConstraintFactory, TokenConstraint, apply_all
from warden.engine.model_files import builtin_model_path

pytestmark = pytest.mark.integration

# The schemas and prompts benchmarks/constraints.py also measures.
EXAMPLES = json.loads((Path(__file__).resolve().parent.parent / "data" / "constraints"
                       / "schemas.json").read_text())
PERSON = EXAMPLES["person"]["schema"]
CASES = [(name, case["schema"], case["prompt"]) for name, case in EXAMPLES.items()]
SEEDS = [11, 22, 33, 44, 55, 66]   # temperature 1.0; plus one greedy run per schema
MAX_TOKENS = 256


@dataclass
class Generation:
    text: str
    tokens: int
    finish_reason: str


class TinyLoop:
    """One llama.cpp context, one sequence at a time; enough to drive a constraint."""

    def __init__(self, path: str, n_ctx: int = 1024) -> None:
        set_verbose(False)
        llama_cpp.llama_backend_init()
        self.model = LlamaModel(path_model=path, params=llama_cpp.llama_model_default_params(),
                                verbose=False)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx
        # One thread: on a shared 2-core box llama.cpp's two spinning workers slow each
        # other down 20x whenever anything else runs (measured: 28 s vs 1.4 s a generation).
        params.n_threads = params.n_threads_batch = 1
        params.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(self.model.model, params)
        assert self.ctx, "llama.cpp could not create a context"
        self.vocab = self.model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.eog = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self.vocab, t)}
        self.batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)

    def close(self) -> None:
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)

    def _decode(self, tokens: list[int], start: int) -> None:
        for i, token in enumerate(tokens):
            self.batch.token[i] = token
            self.batch.pos[i] = start + i
            self.batch.n_seq_id[i] = 1
            self.batch.seq_id[i][0] = 0
            self.batch.logits[i] = i == len(tokens) - 1
        self.batch.n_tokens = len(tokens)
        assert llama_cpp.llama_decode(self.ctx, self.batch) == 0

    def _sampler(self, temperature: float, seed: int) -> Any:
        params = llama_cpp.llama_sampler_chain_default_params()
        chain = llama_cpp.llama_sampler_chain_init(params)
        if temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:  # the whole distribution, no top-k/top-p: the mask alone keeps it valid
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
        return chain

    def piece(self, token: int) -> bytes:
        # Not LlamaModel.token_to_piece: it returns its whole 32-byte buffer, NULs included.
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        assert n >= 0
        return buf.raw[:n]

    def prompt(self, instruction: str) -> list[int]:
        text = ("<|im_start|>system\nYou are a helpful assistant. Reply with JSON only."
                f"<|im_end|>\n<|im_start|>user\n{instruction}<|im_end|>\n"
                "<|im_start|>assistant\n")
        return self.model.tokenize(text.encode(), add_bos=False, special=True)

    def generate(self, prompt: list[int], constraint: TokenConstraint, *, temperature: float,
                 seed: int, max_tokens: int = MAX_TOKENS) -> Generation:
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
        chain = self._sampler(temperature, seed)
        pieces: list[bytes] = []
        reason = "length"
        try:
            self._decode(prompt, 0)
            pos = len(prompt)
            for _ in range(max_tokens):
                logits = llama_cpp.llama_get_logits_ith(self.ctx, -1)
                apply_all([constraint], logits, self.n_vocab)
                token = llama_cpp.llama_sampler_sample(chain, self.ctx, -1)
                constraint.accept(token)
                if token in self.eog:
                    reason = "stop"
                    break
                pieces.append(self.piece(token))
                if constraint.is_finished():
                    reason = "stop"
                    break
                self._decode([token], pos)
                pos += 1
        finally:
            llama_cpp.llama_sampler_free(chain)
        return Generation(b"".join(pieces).decode("utf-8"), len(pieces), reason)


@pytest.fixture(scope="module")
def loop() -> Iterator[TinyLoop]:
    tiny = TinyLoop(str(builtin_model_path()))
    yield tiny
    tiny.close()


@pytest.fixture(scope="module")
def factory() -> ConstraintFactory:
    return ConstraintFactory(builtin_model_path())


def check(generation: Generation, schema: dict[str, Any]) -> Any:
    assert generation.finish_reason == "stop", (
        f"ran out of tokens ({generation.tokens}): {generation.text!r}")
    document = json.loads(generation.text)
    jsonschema.Draft202012Validator(schema).validate(document)
    return document


@pytest.mark.parametrize(("name", "schema", "instruction"), CASES, ids=[c[0] for c in CASES])
def test_greedy_output_validates(loop: TinyLoop, factory: ConstraintFactory, name: str,
                                 schema: dict[str, Any], instruction: str) -> None:
    generation = loop.generate(loop.prompt(instruction), factory.json_schema(schema),
                               temperature=0.0, seed=0)
    check(generation, schema)
    # Greedy is deterministic: the same request gives the same document.
    again = loop.generate(loop.prompt(instruction), factory.json_schema(schema),
                          temperature=0.0, seed=0)
    assert again.text == generation.text


@pytest.mark.parametrize(("name", "schema", "instruction"), CASES, ids=[c[0] for c in CASES])
def test_sampled_outputs_validate(loop: TinyLoop, factory: ConstraintFactory, name: str,
                                  schema: dict[str, Any], instruction: str) -> None:
    prompt = loop.prompt(instruction)
    texts = []
    for seed in SEEDS:
        generation = loop.generate(prompt, factory.json_schema(schema), temperature=1.0,
                                   seed=seed)
        check(generation, schema)
        texts.append(generation.text)
    assert len(set(texts)) > 1, "temperature 1.0 over several seeds gave one output"


def test_unconstrained_output_is_not_json(loop: TinyLoop) -> None:
    """The control: without the mask, the same model and prompt do not produce valid JSON
    for the schema, so the passes above are the constraint's doing."""

    class NoConstraint:
        def apply(self, logits: Any) -> None:
            pass

        def accept(self, token: int) -> None:
            pass

        def is_finished(self) -> bool:
            return False

    valid = 0
    for seed in SEEDS[:3]:
        generation = loop.generate(loop.prompt(CASES[0][2]), NoConstraint(), temperature=1.0,
                                   seed=seed, max_tokens=96)
        try:
            jsonschema.validate(json.loads(generation.text), PERSON)
            valid += 1
        except (ValueError, jsonschema.ValidationError):
            pass
    assert valid < 3
