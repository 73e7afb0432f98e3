"""BM25 indexes behind one interface. Rows are 0..n-1; higher scores are better.

bm25s is the default, chosen by benchmarks/retrieval.py: at 100k chunks its top-100 query
p95 is about half of tantivy's on this CPU (1.3 vs 2.3 ms), and its index is plain numpy
files read by memory map. tantivy builds faster and stays selectable. Both index the same
analyzer output, and only chunk text, never the embedding prefix.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Protocol

import numpy as np

_TOKEN = re.compile(r"\w+", re.UNICODE)
# A short list: BM25's IDF already discounts common words; these only waste postings.
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "if",
    "in", "into", "is", "it", "its", "of", "on", "or", "such", "that", "the", "their", "then",
    "there", "these", "they", "this", "to", "was", "were", "will", "with",
))


def analyze(text: str) -> list[str]:
    """Lowercased word tokens without stopwords: what BM25 indexes and queries with."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class LexicalIndex(Protocol):
    engine: str

    def build(self, texts: list[str]) -> None: ...

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, directory: Path) -> list[str]: ...

    def load(self, directory: Path, count: int) -> None: ...


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, len(scores))
    if k == 0:
        return _empty()
    top = np.argpartition(-scores, k - 1)[:k]
    order = np.lexsort((top, -scores[top]))  # ties broken by row: deterministic
    rows = top[order]
    return rows.astype(np.int64), scores[rows]


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.float32)


class Bm25sIndex:
    engine = "bm25s"
    _DIR = "bm25s"

    def __init__(self) -> None:
        import bm25s

        self._bm25s = bm25s
        self._retriever = bm25s.BM25()
        self._count = 0
        self._vocab: dict[str, int] = {}

    def build(self, texts: list[str]) -> None:
        self._count = len(texts)
        corpus = [analyze(t) for t in texts]
        if self._count:
            self._retriever.index(corpus, show_progress=False)
            self._vocab = dict(self._retriever.vocab_dict)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        terms = [t for t in analyze(query) if t in self._vocab]
        k = min(k, self._count)
        if not terms or k == 0:
            return _empty()
        # Scores for all documents, then our own top-k: bm25s' batch API starts a thread
        # pool and a progress bar per call, which costs more than the scoring here.
        scores = np.asarray(self._retriever.get_scores(terms), dtype=np.float32)
        rows, top = _top_k(scores, k)
        keep = top > 0
        return rows[keep], top[keep]

    def save(self, directory: Path) -> list[str]:
        target = directory / self._DIR
        if self._count:
            self._retriever.save(str(target))
        else:
            target.mkdir(parents=True, exist_ok=True)
        (target / "warden.json").write_text(json.dumps({"count": self._count}))
        return sorted(str(p.relative_to(directory)) for p in target.rglob("*") if p.is_file())

    def load(self, directory: Path, count: int) -> None:
        target = directory / self._DIR
        stored = json.loads((target / "warden.json").read_text())["count"]
        if stored != count:
            raise ValueError(f"bm25s index holds {stored} documents, want {count}")
        self._count = count
        if count:
            self._retriever = self._bm25s.BM25.load(str(target), mmap=True)
            self._vocab = dict(self._retriever.vocab_dict)


class TantivyIndex:
    """Measured alternative: an on-disk Lucene-style index (Rust)."""

    engine = "tantivy"
    _DIR = "tantivy"

    def __init__(self) -> None:
        import tantivy

        self._tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", stored=False, tokenizer_name="default")
        builder.add_unsigned_field("row", stored=True, indexed=False, fast=True)
        self._schema = builder.build()
        self._index = None
        self._count = 0
        self._staging: Path | None = None

    def _open(self, path: Path) -> None:
        self._index = self._tantivy.Index(self._schema, path=str(path), reuse=True)

    def build(self, texts: list[str], path: Path | None = None) -> None:
        import tempfile

        self._staging = path or Path(tempfile.mkdtemp(prefix="tantivy-"))
        self._open(self._staging)
        assert self._index is not None
        writer = self._index.writer(heap_size=256 * 1024 * 1024, num_threads=1)
        for row, text in enumerate(texts):
            doc = self._tantivy.Document()
            doc.add_text("body", " ".join(analyze(text)))
            doc.add_unsigned("row", row)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._count = len(texts)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        terms = analyze(query)
        if not terms or self._count == 0 or self._index is None:
            return _empty()
        parsed, _errors = self._index.parse_query_lenient(" ".join(terms), ["body"])
        searcher = self._index.searcher()
        hits = searcher.search(parsed, min(k, self._count)).hits
        rows = [searcher.doc(address)["row"][0] for _score, address in hits]
        return np.asarray(rows, np.int64), np.asarray([s for s, _ in hits], np.float32)

    def save(self, directory: Path) -> list[str]:
        target = directory / self._DIR
        if self._staging is not None and self._staging != target:
            shutil.copytree(self._staging, target)
        (target / "warden.json").write_text(json.dumps({"count": self._count}))
        return sorted(str(p.relative_to(directory)) for p in target.rglob("*") if p.is_file())

    def load(self, directory: Path, count: int) -> None:
        target = directory / self._DIR
        self._count = json.loads((target / "warden.json").read_text())["count"]
        if self._count != count:
            raise ValueError(f"tantivy index holds {self._count} documents, want {count}")
        self._open(target)


LEXICAL_ENGINES: dict[str, type[LexicalIndex]] = {"bm25s": Bm25sIndex, "tantivy": TantivyIndex}


def make_lexical(engine: str = "bm25s") -> LexicalIndex:
    if engine not in LEXICAL_ENGINES:
        raise ValueError(f"unknown lexical engine '{engine}'; choose from "
                         f"{sorted(LEXICAL_ENGINES)}")
    try:
        return LEXICAL_ENGINES[engine]()
    except ImportError as exc:
        raise ValueError(f"retrieval.lexical.engine '{engine}' needs the package '{engine}' "
                         f"(pip install {engine})") from exc
