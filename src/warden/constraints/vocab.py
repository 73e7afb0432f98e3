"""The model's vocabulary as llguidance needs it, built from the GGUF file itself.

No hub, no transformers tokenizer: the token byte strings, the special tokens and the
end-of-generation ids all come from llama.cpp (`vocab_only=True`, so no weights are read).
Building the token trie takes about a second for a 49k vocabulary, so it is cached per
model file for the life of the process.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llguidance

_cache: dict[tuple[str, int, int], ModelVocab] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelVocab:
    tokenizer: llguidance.LLTokenizer
    n_vocab: int
    eog_tokens: tuple[int, ...]
    # llguidance keeps calling llama_tokenize on the llama.cpp vocab pointer it was given,
    # so the vocab-only model must live as long as the tokenizer does.
    keepalive: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_tokens(cls, tokens: Sequence[bytes], eog_tokens: Sequence[int],
                    tokenize: Callable[[bytes], list[int]],
                    special_tokens: Sequence[int] = ()) -> ModelVocab:
        """A vocabulary from plain byte strings (tests, toy vocabularies)."""

        class _Toy:
            def __init__(self) -> None:
                self.eos_token_id = eog_tokens[0]
                self.bos_token_id = None
                self.special_token_ids = list(special_tokens)
                self.tokens = list(tokens)

            def __call__(self, text: bytes) -> list[int]:
                return tokenize(text)

        wrapper = llguidance.TokenizerWrapper(_Toy())
        tokenizer = llguidance.LLTokenizer(wrapper, eos_token=list(eog_tokens))
        return cls(tokenizer, len(tokens), tuple(eog_tokens))


def load_model_vocab(model_path: str | os.PathLike[str]) -> ModelVocab:
    """The vocabulary of a GGUF file, cached by (path, size, mtime)."""
    path = Path(model_path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        vocab = _cache.get(key)
        if vocab is None:
            vocab = _build(str(path))
            _cache[key] = vocab
        return vocab


def _build(path: str) -> ModelVocab:
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = LlamaModel(path_model=path, params=params, verbose=False)
    vocab = model.vocab
    n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
    # Every end-of-generation token (SmolLM2: <|endoftext|>, <|im_end|>, <reponame>) ends a
    # sequence in the scheduler, so each must be masked until the JSON is complete.
    eog = tuple(t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t))
    if not eog:
        eog = (int(llama_cpp.llama_vocab_eos(vocab)),)
    # llguidance's own llamacpp.py ignores this call too.
    tokenizer = llguidance.LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]  # not in stub
        tokens=_token_bytes(llama_cpp, vocab, n_vocab), vocab_ptr=vocab,
        # llguidance tokenizes forced text (e.g. property names) with llama.cpp itself.
        tokenize_fptr=ctypes.cast(llama_cpp.llama_cpp._lib.llama_tokenize,
                                  ctypes.c_void_p).value,
        eos_token=list(eog), slices=None)
    return ModelVocab(tokenizer, n_vocab, eog, keepalive=model)


def _token_bytes(llama_cpp: Any, vocab: Any, n_vocab: int) -> list[bytes]:
    """Each token's bytes as llama.cpp renders them.

    This is llguidance.llamacpp.lltokenizer_from_vocab's loop, using llama_vocab_get_attr
    (its llama_token_get_attr is deprecated in llama-cpp-python 0.3.36 and warns 49k times).
    Control tokens, and user-defined ones that look like "<...>", get a 0xFF prefix: no UTF-8
    text contains that byte, so grammar text can never produce them.
    """
    size = 1024
    buf = ctypes.create_string_buffer(size)
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
    user = llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    tokens: list[bytes] = []
    for token in range(n_vocab):
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, True)
        if n < 0:
            raise ValueError(f"token {token} is longer than {size} bytes")
        piece = buf.raw[:n]
        attr = llama_cpp.llama_vocab_get_attr(vocab, token)
        if attr & special or (attr & user and piece.startswith(b"<") and piece.endswith(b">")):
            piece = b"\xff" + piece
        tokens.append(piece)
    return tokens
