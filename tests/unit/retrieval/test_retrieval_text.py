"""Normalization, tokens and chunking: pure functions."""

from __future__ import annotations

import random
from itertools import pairwise

from warden.config.retrieval import ChunkingConfig, ChunkingProfile
from warden.retrieval.chunking import (
    Section,
    chunk_document,
    context_prefix,
    embedding_text,
    split_section,
)
from warden.retrieval.normalize import content_hash, normalize
from warden.retrieval.tokens import RegexTokenizer

TOKENIZER = RegexTokenizer()


def test_normalize_unifies_invisible_differences() -> None:
    a = "Caf\u00e9  au\u00a0lait\r\nsecond\u200b line  \n\n\n\nend"
    b = "Cafe\u0301 au lait\nsecond line\n\nend"
    assert normalize(a) == normalize(b) == "Café au lait\nsecond line\n\nend"
    assert content_hash(normalize(a)) == content_hash(normalize(b))


def test_normalize_keeps_code_indentation() -> None:
    code = "def f():\r\n\tif x:  \n        return 1\n"
    assert normalize(code, "code") == "def f():\n    if x:\n        return 1"


def test_normalize_is_idempotent_on_random_text() -> None:
    rng = random.Random(5)
    alphabet = "ab \t\n\r\u00a0\u200b\u0301é.,\x07ﬁ１"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for domain in ("prose", "code"):
            once = normalize(text, domain)  # type: ignore[arg-type]
            assert normalize(once, domain) == once  # type: ignore[arg-type]


def _words(n: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    sentences = []
    while sum(len(s.split()) for s in sentences) < n:
        sentences.append(" ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"])
                                  for _ in range(rng.randint(4, 12))).capitalize() + ".")
    return " ".join(sentences)


def test_chunks_respect_the_token_limit_and_overlap() -> None:
    profile = ChunkingProfile(max_tokens=50, overlap_tokens=10)
    text = _words(600)
    pieces = split_section(Section(text), TOKENIZER, profile)
    assert len(pieces) > 10
    assert all(TOKENIZER.count(p) <= 50 for p in pieces)
    for first, second in pairwise(pieces):
        tail = first.split()[-3:]
        assert " ".join(tail) in second or second.split()[0] in first  # they overlap
    # Nothing is lost: every word of the text is in some chunk, in order.
    assert pieces[0].split()[0] == text.split()[0]
    assert pieces[-1].split()[-1] == text.split()[-1]


def test_prose_chunks_prefer_sentence_ends() -> None:
    profile = ChunkingProfile(max_tokens=40, overlap_tokens=0)
    pieces = split_section(Section(_words(400, seed=3)), TOKENIZER, profile)
    assert sum(p.endswith(".") for p in pieces[:-1]) >= len(pieces[:-1]) - 1


def test_code_uses_its_own_profile_and_line_boundaries() -> None:
    code = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(40))
    config = ChunkingConfig(tokenizer="regex")
    drafts = chunk_document([Section(normalize(code, "code"), "code")], TOKENIZER,
                            config.domains)
    assert all(d.domain == "code" for d in drafts)
    assert all(d.n_tokens <= config.domains["code"].max_tokens for d in drafts)
    assert all(d.text.startswith("def ") for d in drafts)  # cut at definitions


def test_chunk_ids_are_content_addresses() -> None:
    drafts = chunk_document([Section("Hello world.")], TOKENIZER,
                            ChunkingConfig(tokenizer="regex").domains)
    assert drafts[0].hash == content_hash("Hello world.")


def test_prefix_is_for_embedding_only_and_cut_to_size() -> None:
    prefix = context_prefix("A very long title " * 10, "Setup > Install", TOKENIZER, 8)
    assert TOKENIZER.count(prefix) <= 8
    assert embedding_text(prefix, "body") == f"{prefix}\nbody"
    assert embedding_text("", "body") == "body"
    assert context_prefix("", "", TOKENIZER, 8) == ""
