"""The `retrieval:` block of warden.yaml. Every key has a default, so an empty block works."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkingProfile(_Strict):
    """Sizes are in tokens of the chunking tokenizer (MiniLM word pieces by default)."""

    max_tokens: int = Field(200, ge=16, le=4096)
    overlap_tokens: int = Field(40, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingProfile:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        return self


def _default_domains() -> dict[str, ChunkingProfile]:
    # MiniLM reads 256 word pieces; the context prefix needs some of them, so chunks stay below.
    # Code gets smaller chunks: one function per chunk retrieves better than a whole file.
    return {
        "prose": ChunkingProfile(max_tokens=200, overlap_tokens=40),
        "code": ChunkingProfile(max_tokens=160, overlap_tokens=24),
    }


def _default_code_extensions() -> list[str]:
    return [".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".c", ".h", ".cc",
            ".cpp", ".hpp", ".cs", ".rb", ".php", ".sh", ".sql", ".kt", ".swift", ".scala",
            ".yaml", ".yml", ".toml"]


class ChunkingConfig(_Strict):
    tokenizer: Literal["minilm", "regex"] = Field(
        "minilm", description="minilm counts the embedder's own word pieces; regex is a "
                              "dependency-free approximation (words and punctuation).")
    domains: dict[str, ChunkingProfile] = Field(default_factory=_default_domains)
    code_extensions: list[str] = Field(default_factory=_default_code_extensions)
    prefix_max_tokens: int = Field(32, ge=0, description="Title/section prefix kept for the "
                                   "embedding text only (never BM25, never the reader).")

    @model_validator(mode="after")
    def _needs_prose_and_code(self) -> ChunkingConfig:
        missing = {"prose", "code"} - set(self.domains)
        if missing:
            raise ValueError(f"domains must define {sorted(missing)}")
        return self


class DedupConfig(_Strict):
    near_duplicates: bool = True
    threshold: float = Field(0.85, gt=0, le=1, description="Estimated Jaccard similarity of "
                             "word shingles at or above which a chunk is a near duplicate.")
    shingle_words: int = Field(5, ge=1, le=16)
    permutations: int = Field(128, ge=16, le=1024)
    bands: int = Field(32, ge=1)

    @model_validator(mode="after")
    def _bands_divide(self) -> DedupConfig:
        if self.permutations % self.bands:
            raise ValueError("permutations must be a multiple of bands")
        return self


class FusionConfig(_Strict):
    lexical_weight: float = Field(1.0, ge=0)
    vector_weight: float = Field(1.0, ge=0)
    rrf_k: int = Field(60, ge=1, description="RRF constant: score = w / (rrf_k + rank).")
    candidates: int = Field(100, ge=1, le=10_000, description="Hits taken from each engine "
                            "before fusion, filters and the per-document cap.")
    per_doc_cap: int = Field(2, ge=1, description="At most this many chunks of one document.")

    @model_validator(mode="after")
    def _some_weight(self) -> FusionConfig:
        if self.lexical_weight == 0 and self.vector_weight == 0:
            raise ValueError("at least one of lexical_weight and vector_weight must be > 0")
        return self


class LexicalConfig(_Strict):
    engine: Literal["bm25s", "tantivy"] = "bm25s"


class VectorConfig(_Strict):
    # Chosen by benchmarks/retrieval.py (see README "Retrieval"); ef=96 keeps recall@10
    # at 0.997 on 1M synthetic chunks, a margin over the 0.95 target for real embeddings.
    engine: Literal["faiss", "hnswlib", "usearch", "exact"] = "faiss"
    exact_below: int = Field(20_000, ge=0, description="Below this many chunks, search exactly "
                             "(brute force is faster than a graph there, and perfect).")
    connectivity: int = Field(16, ge=4, le=128, description="HNSW M (edges per node).")
    expansion_add: int = Field(128, ge=8)
    expansion_search: int = Field(96, ge=8, description="HNSW ef at query time.")
    quantization: Literal["f32", "f16", "i8"] = Field("f16", description="usearch only.")


class ContextConfig(_Strict):
    max_tokens: int = Field(1024, ge=32, description="Reader-context budget; the API also "
                            "caps it by the model's n_ctx minus prompt and max_tokens.")
    truncate_last: bool = Field(True, description="Cut the last chunk to fit the budget "
                                "instead of dropping it.")


class PoisonConfig(_Strict):
    detectors: list[str] = Field(
        default_factory=lambda: ["builtin"],
        description="'builtin' or 'package.module:callable' taking text, returning bool.")


class RetrievalConfig(_Strict):
    enabled: bool = True
    data_dir: str = Field(".warden", description="Index files live in <data_dir>/indexes, "
                          "backups in <data_dir>/backups.")
    default_corpus: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    default_k: int = Field(5, ge=1, le=100)
    pointer_cache_s: float = Field(0.5, ge=0, le=1.0, description="How long a replica may "
                                   "reuse the active pointer it read; at most 1 s.")
    embed_batch_size: int = Field(64, ge=1, le=4096)
    chunking: ChunkingConfig = ChunkingConfig()
    dedup: DedupConfig = DedupConfig()
    fusion: FusionConfig = FusionConfig()
    lexical: LexicalConfig = LexicalConfig()
    vector: VectorConfig = VectorConfig()
    context: ContextConfig = ContextConfig()
    poison: PoisonConfig = PoisonConfig()
    audit_queries: bool = Field(True, description="Record each retrieval decision (query "
                                "hash, version, chunk ids, scores) in the audit log.")


def retrieval_config(config: object) -> RetrievalConfig:
    """The `retrieval:` block of a WardenConfig, or the defaults while it is not mounted."""
    block = getattr(config, "retrieval", None)
    return block if isinstance(block, RetrievalConfig) else RetrievalConfig()
