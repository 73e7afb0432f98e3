"""Retrieval benchmark: vector engines side by side, BM25 engines, the hybrid query path,
query embedding and ingest throughput. Writes benchmarks/results/retrieval-<stamp>.json.

    .venv/bin/python benchmarks/retrieval.py                         # 100k and 1M
    .venv/bin/python benchmarks/retrieval.py --sizes 100000 --engines hnswlib,usearch

Vectors are synthetic (384-dim, clustered like sentence embeddings: a point is a topic
centre plus noise, unit length), so recall is measured against exact search on the same set.
Latency is one query at a time on one thread, as a gateway replica serves it.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuMonitor, machine_info, summarize, wait_until_quiet, write_results

from warden.config.retrieval import RetrievalConfig, VectorConfig
from warden.retrieval.lexical import make_lexical
from warden.retrieval.vector import make_index

DIM = 384
TARGETS = {"vector_p95_ms_at_1m": 10.0, "vector_recall_at_10_at_1m": 0.95,
           "hybrid_p95_ms_at_100k": 30.0, "query_embedding_p95_ms": 35.0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# synthetic data ------------------------------------------------------------------------
def clustered_vectors(n: int, *, seed: int, centres: np.ndarray, noise: float = 1.0
                      ) -> np.ndarray:
    out = np.empty((n, DIM), np.float32)
    step = 50_000
    for start in range(0, n, step):  # in blocks: 1M x 384 temporaries would double memory
        rng = np.random.default_rng(seed + start)
        m = min(step, n - start)
        block = centres[rng.integers(0, len(centres), m)] + noise * rng.standard_normal(
            (m, DIM), dtype=np.float32)
        out[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top10(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    out = np.empty((len(queries), 10), np.int64)
    for start in range(0, len(queries), 32):
        scores = queries[start:start + 32] @ data.T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        order = np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1]
        out[start:start + 32] = np.take_along_axis(top, order, 1)
    return out


_WORDS: list[str] = []


def vocabulary(size: int = 30_000) -> list[str]:
    if not _WORDS:
        rng = random.Random(7)
        letters = "abcdefghijklmnopqrstuvwxyz"
        seen: set[str] = set()
        while len(seen) < size:
            seen.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
        _WORDS.extend(sorted(seen))
    return _WORDS


def zipf_texts(n: int, words_per_text: int, seed: int) -> list[str]:
    words = vocabulary()
    rng = np.random.default_rng(seed)
    ranks = np.minimum(rng.zipf(1.15, size=(n, words_per_text)), len(words)) - 1
    return [" ".join(words[i] for i in row) for row in ranks]


# measurements --------------------------------------------------------------------------
def timed_queries(search: Callable[[int], Any], count: int) -> list[float]:
    for i in range(min(20, count)):  # warm caches and lazy initialisation
        search(i)
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        search(i)
        latencies.append(time.perf_counter() - started)
    return latencies


def bench_vector_engine(engine: str, data: np.ndarray, queries: np.ndarray, *,
                        truth: np.ndarray, expansions: list[int], config: VectorConfig
                        ) -> dict[str, Any]:
    index = make_index(engine, config, DIM)
    with CpuMonitor() as build_cpu:
        started = time.perf_counter()
        index.build(data)
        build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        files = index.save(Path(tmp))
        size_mb = sum((Path(tmp) / f).stat().st_size for f in files) / 2**20
    sweep = []
    for ef in expansions:
        index.set_expansion(ef)
        found: list[np.ndarray] = []

        def one(i: int, found: list[np.ndarray] = found, ix: Any = index) -> None:
            found.append(ix.search(queries[i % len(queries)], 10)[0])

        latencies = timed_queries(one, len(queries))
        hits = found[-len(queries):]
        recall = float(np.mean([len(set(h.tolist()) & set(t.tolist())) / 10
                                for h, t in zip(hits, truth, strict=True)]))
        sweep.append({"expansion_search": ef, "recall_at_10": round(recall, 4),
                      "latency_ms": summarize(latencies, 1000)})
        log(f"  {engine} ef={ef}: recall@10 {recall:.4f}, p95 "
            f"{sweep[-1]['latency_ms']['p95']} ms")
    del index
    gc.collect()
    return {"engine": engine, "build_s": round(build_s, 2), "build_cpu": build_cpu.result(),
            "index_mb": round(size_mb, 1), "params": config.model_dump(), "sweep": sweep}


def best_setting(result: dict[str, Any], recall_target: float) -> dict[str, Any] | None:
    """The fastest sweep point that reaches the recall target."""
    ok = [s for s in result["sweep"] if s["recall_at_10"] >= recall_target]
    return min(ok, key=lambda s: s["latency_ms"]["p95"]) if ok else None


def bench_vectors(sizes: list[int], engines: list[str], *, big_engines: list[str],
                  n_queries: int, expansions: list[int], config: VectorConfig,
                  quiet_s: float, out: dict[str, Any], save: Callable[[], None]
                  ) -> dict[str, Any]:
    """Fill `out` (possibly holding a previous run's results: those are kept) per size."""
    centres = np.random.default_rng(1).standard_normal((max(sizes) // 100, DIM),
                                                       dtype=np.float32)
    for size in sizes:
        wanted = engines if size <= 100_000 else big_engines
        if all(e in out.get(str(size), {}).get("engines", {}) for e in wanted):
            continue
        log(f"vectors: generating {size:,} x {DIM}")
        data = clustered_vectors(size, seed=11, centres=centres[:max(size // 100, 10)])
        queries = clustered_vectors(n_queries, seed=999_999, centres=centres[:max(size // 100,
                                                                                   10)])
        truth = exact_top10(data, queries)
        exact_lat = timed_queries(lambda i, q=queries, x=data: x @ q[i % len(q)], 50)
        results = out.setdefault(str(size), {"engines": {}})
        results["exact_numpy_latency_ms"] = summarize(exact_lat, 1000)
        for engine in wanted:
            if engine in results["engines"]:
                continue
            wait_until_quiet(quiet_s, log=log)
            log(f"vectors: {engine} at {size:,}")
            results["engines"][engine] = bench_vector_engine(
                engine, data, queries, truth=truth, expansions=expansions, config=config)
            best = best_setting(results["engines"][engine], TARGETS[
                "vector_recall_at_10_at_1m"])
            results["engines"][engine]["best_at_recall_0.95"] = best
            save()
        del data
        gc.collect()
    return out


def bench_lexical(size: int, engines: list[str], n_queries: int) -> dict[str, Any]:
    log(f"lexical: {size:,} synthetic chunks")
    texts = zipf_texts(size, 120, seed=3)
    queries = [" ".join(q.split()[:6]) for q in zipf_texts(n_queries, 6, seed=4)]
    out: dict[str, Any] = {}
    for engine in engines:
        index = make_lexical(engine)
        started = time.perf_counter()
        index.build(texts)
        build_s = time.perf_counter() - started
        latencies = timed_queries(lambda i, ix=index: ix.search(queries[i % len(queries)], 100),
                                  n_queries)
        out[engine] = {"build_s": round(build_s, 2), "latency_ms_top100":
                       summarize(latencies, 1000)}
        log(f"  {engine}: build {build_s:.1f} s, p95 {out[engine]['latency_ms_top100']['p95']}"
            " ms")
    return out


def build_store(size: int, config: RetrievalConfig, workdir: Path) -> tuple[Any, np.ndarray]:
    """A real SQLite store with one ready, active version of `size` synthetic chunks."""
    from warden.retrieval.index import IndexManager
    from warden.retrieval.merkle import merkle_root
    from warden.retrieval.normalize import content_hash
    from warden.retrieval.store import ChunkStore, Placement, embedding_key
    from warden.retrieval.versions import VersionStore
    from warden.store.db import open_database

    db = open_database(f"sqlite:///{workdir}/bench.db")
    texts = zipf_texts(size, 120, seed=5)
    centres = np.random.default_rng(1).standard_normal((max(size // 100, 10), DIM),
                                                       dtype=np.float32)
    vectors = clustered_vectors(size, seed=21, centres=centres)
    hashes = [content_hash(t) for t in texts]
    keys = [embedding_key("synthetic", t) for t in texts]
    chunks, versions = ChunkStore(db), VersionStore(db)
    chunks.put_chunks([(h, t, 120) for h, t in zip(hashes, texts, strict=True)])
    chunks.put_embeddings(keys, "synthetic", vectors)
    placements = [Placement(h, f"doc{i // 5}", f"synthetic/doc{i // 5}.txt", i % 5, "", "",
                            "prose", "", k, {"lang": "en" if i % 3 else "de"})
                  for i, (h, k) in enumerate(zip(hashes, keys, strict=True))]
    version_id, _ = versions.begin("bench", {"embedding_model": "synthetic"})
    chunks.put_placements(version_id, placements)
    root = merkle_root(hashes)
    IndexManager(chunks, versions, config).build(version_id, corpus="bench", merkle_root=root,
                                                 placements=placements, model="synthetic")
    versions.finalize(version_id, merkle_root=root, chunk_count=size, quarantined_count=0,
                      document_count=size // 5, stats={}, activate=True, actor="bench")
    return db, centres


def bench_hybrid(size: int, config: RetrievalConfig, n_queries: int) -> dict[str, Any]:
    from warden.retrieval.search import Searcher

    with tempfile.TemporaryDirectory(prefix="warden-bench-retrieval-") as tmp:
        config = config.model_copy(update={"data_dir": tmp})
        log(f"hybrid: building a {size:,}-chunk store ({config.vector.engine})")
        started = time.perf_counter()
        db, centres = build_store(size, config, Path(tmp))
        setup_s = time.perf_counter() - started
        searcher = Searcher(db, config)
        queries = [" ".join(q.split()[:6]) for q in zipf_texts(n_queries, 6, seed=6)]
        vectors = clustered_vectors(n_queries, seed=77, centres=centres)
        out: dict[str, Any] = {"setup_s": round(setup_s, 1), "vector_engine":
                               config.vector.engine, "lexical_engine": config.lexical.engine}
        for label, filters in (("no_filter", None), ("filter_lang_de", {"lang": "de"})):
            with CpuMonitor() as cpu:
                latencies = timed_queries(
                    lambda i, f=filters: searcher.search(
                        queries[i % n_queries], corpus="bench", k=5, filters=f,
                        query_vector=vectors[i % n_queries]), n_queries)
            out[label] = {"latency_ms": summarize(latencies, 1000), "cpu": cpu.result()}
            log(f"  hybrid {label}: p95 {out[label]['latency_ms']['p95']} ms")
        db.dispose()
    return out


QUESTIONS = [
    "How do I rotate an API key?", "What is the refund policy for annual plans?",
    "Which regions store customer data at rest?", "Explain the difference between a canary "
    "and a shadow deployment", "kill switch retrieval", "How long are audit logs kept before "
    "they are purged, and who can export them?", "rate limit 429 retry-after header",
    "Can the model see documents from another tenant?", "backup restore drill steps",
    "What does the prefix leakage health check verify and why does it matter for BM25?",
]


def bench_query_embedding(n_queries: int) -> dict[str, Any]:
    from warden.retrieval.embedder import default_embedder

    started = time.perf_counter()
    embedder = default_embedder()
    embedder.embed(["warm up"])
    load_s = time.perf_counter() - started
    with CpuMonitor() as cpu:
        latencies = timed_queries(lambda i: embedder.embed([QUESTIONS[i % len(QUESTIONS)]]),
                                  n_queries)
    log(f"query embedding: p95 {summarize(latencies, 1000)['p95']} ms")
    return {"model_load_s": round(load_s, 2), "latency_ms": summarize(latencies, 1000),
            "cpu": cpu.result()}


def bench_ingest(documents: int) -> dict[str, Any]:
    from warden.retrieval.embedder import default_embedder
    from warden.retrieval.ingest import ingest
    from warden.store.db import open_database

    with tempfile.TemporaryDirectory(prefix="warden-bench-ingest-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        bodies = zipf_texts(documents, 400, seed=8)
        for i, body in enumerate(bodies):
            words = body.split()
            paragraphs = [" ".join(words[j:j + 60]) + "." for j in range(0, len(words), 60)]
            (corpus / f"doc{i:05d}.md").write_text(f"# Document {i}\n\n## Part one\n\n"
                                                   + "\n\n".join(paragraphs))
        config = RetrievalConfig(data_dir=tmp)
        db = open_database(f"sqlite:///{tmp}/ingest.db")
        embedder = default_embedder()
        embedder.embed(["warm up"])
        with CpuMonitor() as cpu:
            report = ingest(db, [corpus], corpus="bench", config=config, embedder=embedder)
        db.dispose()
    log(f"ingest: {report.chunks_indexed} chunks at {report.chunks_per_s} chunks/s")
    return {"documents": documents, "chunks": report.chunks_indexed,
            "elapsed_s": report.elapsed_s, "chunks_per_s": report.chunks_per_s,
            "dedup_rate": report.dedup_rate, "cpu": cpu.result()}


def choose_engine(vectors: dict[str, Any]) -> tuple[str, int] | None:
    """At the largest size: the engine and ef with the lowest p95 at recall@10 >= 0.95."""
    if not vectors:
        return None
    engines = vectors[max(vectors, key=int)]["engines"]
    ranked = sorted((best["latency_ms"]["p95"], name, best["expansion_search"])
                    for name, result in engines.items()
                    if (best := result.get("best_at_recall_0.95")))
    return (ranked[0][1], ranked[0][2]) if ranked else None


def verdicts(results: dict[str, Any], chosen: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    vectors = results.get("vectors", {})
    largest = max(vectors, key=int) if vectors else None
    if largest:
        best = vectors[largest]["engines"].get(chosen, {}).get("best_at_recall_0.95")
        out["vector"] = {"size": int(largest), "engine": chosen, "setting": best,
                         "meets_targets": bool(best and best["latency_ms"]["p95"] <=
                                               TARGETS["vector_p95_ms_at_1m"])}
    if "hybrid" in results:
        p95 = results["hybrid"]["no_filter"]["latency_ms"]["p95"]
        out["hybrid"] = {"p95_ms": p95, "meets_target": p95 <= TARGETS["hybrid_p95_ms_at_100k"]}
    if "query_embedding" in results:
        p95 = results["query_embedding"]["latency_ms"]["p95"]
        out["query_embedding"] = {"p95_ms": p95,
                                  "meets_target": p95 <= TARGETS["query_embedding_p95_ms"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--engines", default="usearch,hnswlib,faiss")
    parser.add_argument("--big-engines", default=None, help="engines for sizes above 100k "
                        "(default: --engines)")
    parser.add_argument("--lexical-engines", default="bm25s,tantivy")
    parser.add_argument("--expansions", default="32,64,96,128,192,256")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--hybrid-size", type=int, default=100_000)
    parser.add_argument("--ingest-docs", type=int, default=300)
    parser.add_argument("--skip", default="", help="comma list of: vectors, lexical, hybrid, "
                        "embedding, ingest")
    parser.add_argument("--quiet-wait", type=float, default=120.0,
                        help="seconds to wait for other processes to go quiet per section")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--checkpoint", type=Path, default=Path(tempfile.gettempdir()) /
                        "warden-retrieval-bench.json", help="progress so far, rewritten "
                        "after each step; --resume continues from it")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    config = RetrievalConfig()
    expansions = [int(x) for x in args.expansions.split(",")]
    results: dict[str, Any] = {"benchmark": "retrieval", "targets": TARGETS,
                               "machine": machine_info(), "config": config.model_dump()}
    if args.resume and args.checkpoint.exists():
        previous = json.loads(args.checkpoint.read_text())
        results.update({k: v for k, v in previous.items() if k not in ("machine", "config")})
        log(f"resuming from {args.checkpoint}: {sorted(previous)}")

    def save() -> None:
        args.checkpoint.write_text(json.dumps(results, indent=1, default=str))

    started = time.perf_counter()
    if "vectors" not in skip:
        results["vectors"] = bench_vectors([int(s) for s in args.sizes.split(",")],
                                           args.engines.split(","),
                                           big_engines=(args.big_engines or args.engines)
                                           .split(","), n_queries=args.queries,
                                           expansions=expansions, config=config.vector,
                                           quiet_s=args.quiet_wait,
                                           out=results.setdefault("vectors", {}), save=save)
        choice = choose_engine(results["vectors"])
        if choice:  # the hybrid run uses what the vector run chose
            engine, ef = choice
            vector = config.vector.model_copy(update={"engine": engine, "expansion_search": ef})
            config = config.model_copy(update={"vector": vector})
            results["chosen_vector_engine"] = {"engine": engine, "expansion_search": ef}
    if "lexical" not in skip and "lexical" not in results:
        wait_until_quiet(args.quiet_wait, log=log)
        results["lexical"] = bench_lexical(args.hybrid_size, args.lexical_engines.split(","),
                                           args.queries)
    save()
    if "hybrid" not in skip and "hybrid" not in results:
        wait_until_quiet(args.quiet_wait, log=log)
        results["hybrid"] = bench_hybrid(args.hybrid_size, config, args.queries)
    save()
    if "embedding" not in skip and "query_embedding" not in results:
        wait_until_quiet(args.quiet_wait, log=log)
        results["query_embedding"] = bench_query_embedding(min(args.queries, 300))
    save()
    if "ingest" not in skip and "ingest" not in results:
        wait_until_quiet(args.quiet_wait, log=log)
        results["ingest"] = bench_ingest(args.ingest_docs)
        save()
    results["verdicts"] = verdicts(results, config.vector.engine)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    if not args.no_write:
        stamped, latest = write_results("retrieval", results)
        log(f"wrote {stamped} and {latest}")


if __name__ == "__main__":
    main()
