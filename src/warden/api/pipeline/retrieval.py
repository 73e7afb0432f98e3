"""Retrieval-augmented generation in the request path: options in, context and citations out.

The route calls `begin()` before the generation starts (validation, the kill switch, a cheap
check that the corpus has a servable version, so a bad request costs no quota). The service
then calls `RagRun.prepare()` between the input guard and the engine, with the guarded
(already redacted) request, so the design's order holds:

    input guard -> retrieval (search, chunk guard, budgeted context) -> prompt build -> engine

The budget is measured with the engine's own tokenizer on the exact final prompt, so the
prompt plus max_tokens never exceeds the model's n_ctx (see `prepare`). Everything here but
`begin`/`prepare` is pure and unit-tested without a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from warden.api.errors import APIError
from warden.api.pipeline.guard import RequestGuard, evidence
from warden.api.protocol import RetrievalOptions
from warden.engine.base import GenerationRequest
from warden.retrieval.context import Context, context_budget
from warden.retrieval.search import Hit, SearchResult
from warden.retrieval.versions import VersionError
from warden.safety.pipeline import ROLE_CATEGORIES
from warden.safety.policy import Category, Verdict
from warden.safety.redaction import Redactor
from warden.store.audit import AuditLog
from warden.store.keys import Principal
from warden.telemetry.metrics import Metrics
from warden.telemetry.tracing import set_attributes, span

if TYPE_CHECKING:
    from warden.retrieval.service import Retrieval

log = logging.getLogger(__name__)

# Retrieved text is third-party content: the guard looks for what the pipeline checks in tool
# results (PII, indirect injection) plus abuse we would not want to feed the model. Crisis is
# left out: a help page about crisis lines is a legitimate source, not the user's intent.
CHUNK_CATEGORIES: frozenset[Category] = ROLE_CATEGORIES["tool"] | {"toxicity"}
INSTRUCTION = ("Answer the question using the numbered sources below. Cite the sources you "
               "use by their number, like [1]. If the sources do not contain the answer, "
               "say so.")
SOURCES_HEADER = "Sources:"


# pure helpers ----------------------------------------------------------------------------
def extract_query(request: GenerationRequest) -> str:
    """What to search with: the prompt, or the last user message."""
    if request.prompt is not None:
        return request.prompt.strip()
    for message in reversed(request.messages or ()):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "").strip()
    return ""


def context_block(context_text: str) -> str:
    return f"{INSTRUCTION}\n\n{SOURCES_HEADER}\n{context_text}"


def inject(request: GenerationRequest, context_text: str) -> GenerationRequest:
    """The request the engine sees: the context as a system message (merged into the
    operator's leading system message, since some chat templates accept only one, first) or
    as a prefix of a raw prompt."""
    if not context_text:
        return request
    block = context_block(context_text)
    if request.prompt is not None:
        return dataclasses.replace(request, prompt=f"{block}\n\n{request.prompt}")
    messages = [dict(m) for m in request.messages or ()]
    if messages and messages[0].get("role") == "system" and \
            isinstance(messages[0].get("content"), str):
        messages[0]["content"] = f"{messages[0]['content']}\n\n{block}"
    else:
        messages.insert(0, {"role": "system", "content": block})
    return dataclasses.replace(request, messages=tuple(messages))


def context_counter(request: GenerationRequest, base_tokens: int,
                    count_request: Callable[[GenerationRequest], int]) -> Callable[[str], int]:
    """Tokens a context costs, measured on the whole final prompt (tokenizers are not
    additive, and the chat template and instruction cost tokens too). base + this ≤ budget +
    base, so the final prompt never outgrows what `context_budget` allowed."""

    def count(context_text: str) -> int:
        return count_request(inject(request, context_text)) - base_tokens

    return count


class ChunkCheck(Protocol):
    def __call__(self, text: str, redactor: Redactor) -> Verdict: ...


@dataclasses.dataclass
class Screened:
    hits: list[Hit]
    blocked: list[tuple[Hit, Verdict]]
    redacted: list[tuple[Hit, Verdict]]


def screen_hits(hits: Sequence[Hit], check: ChunkCheck, redactor: Redactor) -> Screened:
    """Drop what the guard would block; serve PII-redacted text for the rest."""
    kept: list[Hit] = []
    blocked: list[tuple[Hit, Verdict]] = []
    redacted: list[tuple[Hit, Verdict]] = []
    for hit in hits:
        verdict = check(hit.text, redactor)
        if not verdict.allowed:
            blocked.append((hit, verdict))
            continue
        if verdict.action == "redact" and verdict.redacted_text is not None \
                and verdict.redacted_text != hit.text:
            redacted.append((hit, verdict))
            kept.append(dataclasses.replace(hit, text=verdict.redacted_text))
        else:
            kept.append(hit)
    return Screened(kept, blocked, redacted)


def citation_dicts(context: Context) -> list[dict[str, Any]]:
    return [{"n": c.n, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "source": c.source,
             "version": c.version, "score": c.score, "truncated": c.truncated}
            for c in context.citations]


def version_error(exc: VersionError, corpus: str, exists: bool) -> APIError:
    """Unknown corpus → 404; a corpus with nothing servable (no active version, nothing
    active at as_of, a version not ready) → 409. Both name the field and the fix."""
    if not exists:
        return APIError(404, f"retrieval.corpus: corpus '{corpus}' does not exist. Create it "
                             f"with `warden index ingest PATH --corpus {corpus}`.",
                        code="corpus_not_found", param="retrieval.corpus")
    return APIError(409, f"retrieval.corpus: {exc}. Ingest with `warden index ingest PATH "
                         f"--corpus {corpus}` or activate a version with `warden index "
                         "activate VERSION`.", code="no_active_version",
                    param="retrieval.corpus")


# the request path --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RetrievalStage:
    """What retrieval in the request path needs, built once by the runtime and passed in."""

    retrieval: Retrieval
    is_on: Callable[[str], bool]             # the kill switches: is_on("retrieval")
    guard: RequestGuard | None               # screens retrieved chunks; None: safety off
    audit: AuditLog
    metrics: Metrics
    n_ctx: Mapping[str, int]                 # per model: the window the context must fit

    async def begin(self, principal: Principal, options: RetrievalOptions,
                    request: GenerationRequest, count_tokens: Callable[[GenerationRequest], int],
                    *, versions: Mapping[str, int] | None = None) -> RagRun:
        """Validate the options and check the corpus is servable, before any quota is spent.

        The search uses the question as the user asked it: it never leaves this process and
        the audit log keeps only its SHA-256, while a name the guard masks (NER also masks
        place names) would cost recall. The model sees the guarded question and chunks."""
        corpus = options.corpus or self.retrieval.config.default_corpus
        # A rollout arm pins corpora to versions; an explicit as_of still reads history.
        pinned = (versions or {}).get(corpus) if options.as_of is None else None
        run = RagRun(self, options, corpus, principal, request.request_id,
                     count_tokens=count_tokens, pinned=pinned)
        if not self.is_on("retrieval"):
            run.skipped = "switched_off"
            self.metrics.retrieval_skipped.labels(run.skipped).inc()
            return run
        run.query = extract_query(request)
        if not run.query:
            raise APIError(400, "retrieval needs a question to search with: send a prompt or "
                                "a user message.", code="invalid_value", param="retrieval")
        try:
            await asyncio.to_thread(self.retrieval.searcher.resolve, corpus,
                                    as_of=options.as_of, version=pinned)
        except VersionError as exc:
            raise await self.version_error_for(exc, corpus) from exc
        run.n_ctx = self.n_ctx.get(request.model, 0)
        return run

    async def version_error_for(self, exc: VersionError, corpus: str) -> APIError:
        exists = bool(await asyncio.to_thread(self.retrieval.list_versions, corpus))
        return version_error(exc, corpus, exists)

    async def record(self, run: RagRun, screened: Screened, version: int) -> None:
        """Each guard decision on a chunk is evidence: chunk id and findings, never text."""
        for stage_action, items in (("block", screened.blocked),
                                    ("redact", screened.redacted)):
            for hit, verdict in items:
                for category in verdict.categories or ("none",):
                    self.metrics.safety_events.labels("retrieval", category,
                                                      verdict.action).inc()
                payload = {"stage": "retrieval", "request_id": run.request_id,
                           "key_id": run.principal.key_id, "corpus": run.corpus,
                           "version": version, "chunk_id": hit.chunk_id, "doc_id": hit.doc_id,
                           "served": stage_action != "block", **evidence(verdict)}
                try:
                    await asyncio.to_thread(self.audit.append, "safety.intervention",
                                            "guard", payload)
                except Exception:
                    log.exception("audit append failed for chunk %s", hit.chunk_id[:12])


async def begin(stage: RetrievalStage | None, principal: Principal,
                options: RetrievalOptions | None, request: GenerationRequest,
                count_tokens: Callable[[GenerationRequest], int], *,
                versions: Mapping[str, int] | None = None) -> RagRun | None:
    """The request's retrieval, validated before any quota is spent; None if not asked."""
    if options is None:
        return None
    if stage is None:
        raise APIError(400, "retrieval is disabled on this server (retrieval.enabled: false "
                            "in warden.yaml). Remove the 'retrieval' field or enable it.",
                       code="retrieval_disabled", param="retrieval")
    return await stage.begin(principal, options, request, count_tokens, versions=versions)


@dataclasses.dataclass
class RagRun:
    """One request's retrieval. `prepare` fills the outcome the response reports."""

    stage: RetrievalStage
    options: RetrievalOptions
    corpus: str
    principal: Principal
    request_id: str
    count_tokens: Callable[[GenerationRequest], int]
    pinned: int | None = None  # the version a rollout arm serves for this corpus
    query: str = ""
    n_ctx: int = 0
    skipped: str | None = None
    context: Context | None = None
    version: int | None = None
    blocked: int = 0
    redacted: int = 0
    retrieved: int = 0
    result: SearchResult | None = None

    def response_fields(self) -> dict[str, Any]:
        """`citations` and `retrieval`, for the body (generate) or the `warden` extension."""
        if self.skipped is not None:
            return {"citations": [], "retrieval": {"skipped": self.skipped}}
        context = self.context
        if context is None:  # the guard escalated: the model (and retrieval) never ran
            return {"citations": [], "retrieval": {"skipped": "escalated"}}
        return {
            "citations": citation_dicts(context),
            "retrieval": {
                "corpus": self.corpus, "version": self.version,
                "k": self.options.k or self.stage.retrieval.config.default_k,
                "as_of": self.options.as_of.isoformat() if self.options.as_of else None,
                "dropped": self.blocked,           # chunks the guard blocked: never served
                "redacted": self.redacted,         # chunks served with PII redacted
                "retrieved": self.retrieved,
                "over_budget": len(context.dropped),
                "context_tokens": context.tokens,
                "budget": context.budget,
                # Past the top k, for evaluation: every fused candidate before filters and
                # the per-document cap, and what the cap and filters set aside.
                "cap_dropped": self.result.cap_dropped if self.result else 0,
                "filtered_out": self.result.filtered_out if self.result else 0,
                "candidates": [{"chunk_id": c, "doc_id": d}
                               for c, d in (self.result.candidates if self.result else ())],
            },
        }

    async def prepare(self, request: GenerationRequest, redactor: Redactor | None
                      ) -> GenerationRequest:
        """Search, guard the chunks, fit them in the window, inject them (or not)."""
        if self.skipped is not None:
            return request
        with span("warden.retrieval") as traced, self.stage.metrics.retrieval_seconds.labels(
                self.corpus).time():
            prepared = await self._prepare(request, redactor)
            # Counts and the version only: no query, no chunk text.
            set_attributes(traced, {
                "warden.retrieval.corpus": self.corpus, "warden.retrieval.version": self.version,
                "warden.retrieval.retrieved": self.retrieved,
                "warden.retrieval.dropped": self.blocked,
                "warden.retrieval.redacted": self.redacted,
                "warden.retrieval.context_tokens": self.context.tokens if self.context else 0})
            return prepared

    async def _prepare(self, request: GenerationRequest, redactor: Redactor | None
                       ) -> GenerationRequest:
        stage, retrieval, query = self.stage, self.stage.retrieval, self.query
        base = self.count_tokens(request)
        budget = context_budget(self.n_ctx, base, request.sampling.max_tokens,
                                retrieval.config.context.max_tokens)
        guard = stage.guard
        pipeline = guard.pipeline(self.principal.tier) \
            if guard is not None and guard.enabled else None
        screened: list[Screened] = []

        def screen(hits: Sequence[Hit]) -> list[Hit]:
            if pipeline is None:
                return list(hits)
            result = screen_hits(hits, lambda text, r: pipeline.check_text(
                text, CHUNK_CATEGORIES, r), redactor or Redactor())
            screened.append(result)
            return result.hits

        def run() -> tuple[Any, Context]:
            load_embedder(retrieval)
            return retrieval.retrieve(
                query, budget=budget,
                count_tokens=context_counter(request, base, self.count_tokens),
                actor=self.principal.key_id, request_id=self.request_id, corpus=self.corpus,
                k=self.options.k, as_of=self.options.as_of, version=self.pinned,
                filters=self.options.filters, screen=screen, fresh=not request.use_cache)

        try:
            result, context = await asyncio.to_thread(run)
        except VersionError as exc:
            raise await stage.version_error_for(exc, self.corpus) from exc
        self.version, self.context, self.retrieved = result.version, context, len(result.hits)
        self.result = result
        if screened:
            self.blocked, self.redacted = len(screened[0].blocked), len(screened[0].redacted)
            await stage.record(self, screened[0], result.version)
        return inject(request, context.text)


# start-up ----------------------------------------------------------------------------------
def load_embedder(retrieval: Retrieval) -> None:
    if retrieval.config.fusion.vector_weight <= 0:  # lexical only: no model to load
        return
    retrieval.embedder  # noqa: B018 -- the property loads it once (it holds a lock for that)


def warm_up(retrieval: Retrieval) -> None:
    """Load the embedder and the active indexes, only when some corpus is active: a server
    with nothing to retrieve from pays nothing. Runs in the background after start-up."""
    try:
        pointers = retrieval.versions.pointers()
        if not pointers:
            return
        load_embedder(retrieval)
        if retrieval.config.fusion.vector_weight > 0:
            retrieval.embedder.embed(["warm-up"])
        for version in pointers.values():
            retrieval.indexes.load(version)
    except Exception:  # a broken index must not stop the server; a query will report it
        log.warning("retrieval warm-up failed", exc_info=True)
