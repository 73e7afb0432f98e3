"""Dense vector indexes behind one interface. Rows are 0..n-1; scores are cosine similarity.

faiss (IndexHNSWFlat) is the default, chosen by benchmarks/retrieval.py: at 1M chunks it
reaches recall@10 0.997 at 0.77 ms p95 (ef=96), where hnswlib needs a larger ef for the same
recall and usearch answers about 1.5x slower at 100k; it also installs as a wheel. hnswlib
and usearch stay selectable as the measured alternatives (install them to use them), and
exact search serves small corpora, where brute force is both fast and perfect.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from warden.config.retrieval import VectorConfig


class VectorIndex(Protocol):
    engine: str

    def build(self, vectors: np.ndarray) -> None: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows int64, scores float32), best first; at most k of each."""
        ...

    def set_expansion(self, expansion: int) -> None:
        """Search-time candidate list size (HNSW ef): recall against latency."""
        ...

    def save(self, directory: Path) -> list[str]:
        """Write the index files into directory; return their names."""
        ...

    def load(self, directory: Path, count: int, dim: int) -> None: ...


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-scores, k - 1)[:k]
    # Stable tie-break on the row number, so equal scores come back in the same order.
    order = np.lexsort((top, -scores[top]))
    rows = top[order]
    return rows.astype(np.int64), scores[rows].astype(np.float32)


class ExactIndex:
    engine = "exact"
    _FILE = "vectors.npy"

    def __init__(self) -> None:
        self._matrix = np.zeros((0, 0), np.float32)

    def build(self, vectors: np.ndarray) -> None:
        self._matrix = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._matrix) == 0:
            return _top_k(np.zeros(0, np.float32), k)
        return _top_k(self._matrix @ query.astype(np.float32), k)

    def set_expansion(self, expansion: int) -> None:
        del expansion  # exact search has no knob

    def save(self, directory: Path) -> list[str]:
        np.save(directory / self._FILE, self._matrix)
        return [self._FILE]

    def load(self, directory: Path, count: int, dim: int) -> None:
        self._matrix = np.load(directory / self._FILE, mmap_mode="r")
        if self._matrix.shape != (count, dim):
            raise ValueError(f"vectors.npy has shape {self._matrix.shape}, want {(count, dim)}")


class UsearchIndex:
    engine = "usearch"
    _FILE = "vectors.usearch"

    def __init__(self, config: VectorConfig, dim: int) -> None:
        from usearch.index import Index

        self._index = Index(ndim=dim, metric="cos", dtype=config.quantization,
                            connectivity=config.connectivity,
                            expansion_add=config.expansion_add,
                            expansion_search=config.expansion_search)
        self._search_expansion = config.expansion_search

    def build(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self._index.add(np.arange(len(vectors), dtype=np.uint64),
                            np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._index) == 0:
            return _top_k(np.zeros(0, np.float32), k)
        matches = self._index.search(query.astype(np.float32), k, threads=1)
        return (np.asarray(matches.keys, dtype=np.int64),
                (1.0 - np.asarray(matches.distances, dtype=np.float32)))

    def set_expansion(self, expansion: int) -> None:
        self._index.expansion_search = self._search_expansion = expansion

    def save(self, directory: Path) -> list[str]:
        self._index.save(str(directory / self._FILE))
        return [self._FILE]

    def load(self, directory: Path, count: int, dim: int) -> None:
        self._index.load(str(directory / self._FILE))
        self._index.expansion_search = self._search_expansion
        if len(self._index) != count or self._index.ndim != dim:
            raise ValueError(f"usearch index holds {len(self._index)}x{self._index.ndim}, "
                             f"want {count}x{dim}")


class HnswlibIndex:
    engine = "hnswlib"
    _FILE = "vectors.hnswlib"

    def __init__(self, config: VectorConfig, dim: int) -> None:
        import hnswlib

        self._hnswlib = hnswlib
        self._config = config
        self._dim = dim
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._count = 0

    def build(self, vectors: np.ndarray) -> None:
        self._count = len(vectors)
        self._index.init_index(max_elements=max(1, len(vectors)),
                               ef_construction=self._config.expansion_add,
                               M=self._config.connectivity, random_seed=17)
        if len(vectors):
            self._index.add_items(np.ascontiguousarray(vectors, dtype=np.float32),
                                  np.arange(len(vectors)))
        self._index.set_ef(self._config.expansion_search)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._count)
        if k == 0:
            return _top_k(np.zeros(0, np.float32), 0)
        labels, distances = self._index.knn_query(query.astype(np.float32), k=k,
                                                  num_threads=1)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def set_expansion(self, expansion: int) -> None:
        self._config = self._config.model_copy(update={"expansion_search": expansion})
        self._index.set_ef(expansion)

    def save(self, directory: Path) -> list[str]:
        self._index.save_index(str(directory / self._FILE))
        return [self._FILE]

    def load(self, directory: Path, count: int, dim: int) -> None:
        self._index.load_index(str(directory / self._FILE), max_elements=max(1, count))
        self._index.set_ef(self._config.expansion_search)
        self._count = self._index.get_current_count()
        if self._count != count:
            raise ValueError(f"hnswlib index holds {self._count} vectors, want {count}")


class FaissIndex:
    engine = "faiss"
    _FILE = "vectors.faiss"

    def __init__(self, config: VectorConfig, dim: int) -> None:
        import faiss

        # One query gains nothing from threads, and OpenMP's spinning barrier costs
        # milliseconds when the cores are busy (the model runs beside us). Builds use all.
        faiss.omp_set_num_threads(1)
        self._faiss = faiss
        self._config = config
        self._index = faiss.IndexHNSWFlat(dim, config.connectivity,
                                          faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = config.expansion_add
        self._index.hnsw.efSearch = config.expansion_search

    def build(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self._faiss.omp_set_num_threads(os.cpu_count() or 1)
            try:
                self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            finally:
                self._faiss.omp_set_num_threads(1)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self._index.search(query.reshape(1, -1).astype(np.float32), k)
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def set_expansion(self, expansion: int) -> None:
        self._config = self._config.model_copy(update={"expansion_search": expansion})
        self._index.hnsw.efSearch = expansion

    def save(self, directory: Path) -> list[str]:
        self._faiss.write_index(self._index, str(directory / self._FILE))
        return [self._FILE]

    def load(self, directory: Path, count: int, dim: int) -> None:
        index = self._faiss.read_index(str(directory / self._FILE))
        if not isinstance(index, self._faiss.IndexHNSWFlat):
            raise ValueError(f"faiss index is a {type(index).__name__}, want IndexHNSWFlat")
        self._index = index
        self._index.hnsw.efSearch = self._config.expansion_search
        if self._index.ntotal != count or self._index.d != dim:
            raise ValueError(f"faiss index holds {self._index.ntotal}x{self._index.d}, "
                             f"want {count}x{dim}")


# Constructors differ: exact takes nothing (make_index builds it), the rest (config, dim).
ENGINES: dict[str, Callable[..., VectorIndex]] = {
    "exact": ExactIndex, "usearch": UsearchIndex, "hnswlib": HnswlibIndex, "faiss": FaissIndex}


def engine_for(count: int, config: VectorConfig) -> str:
    """The engine a version of `count` chunks uses: exact when small, else the configured."""
    return "exact" if config.engine == "exact" or count < config.exact_below else config.engine


def make_index(engine: str, config: VectorConfig, dim: int) -> VectorIndex:
    if engine == "exact":
        return ExactIndex()
    if engine not in ENGINES:
        raise ValueError(f"unknown vector engine '{engine}'; choose from {sorted(ENGINES)}")
    try:
        return ENGINES[engine](config, dim)
    except ImportError as exc:
        package = {"faiss": "faiss-cpu"}.get(engine, engine)
        raise ValueError(f"retrieval.vector.engine '{engine}' needs the package '{package}' "
                         f"(pip install {package})") from exc
