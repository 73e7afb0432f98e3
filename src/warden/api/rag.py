"""Retrieval-augmented generation in the request path: options in, context and citations out.

The route calls `begin()` before the generation starts (validation, the kill-switch hook, a
cheap check that the corpus has a servable version, so a bad request costs no quota). The
service then calls `RagRun.prepare()` between the input guard and the engine, with the
guarded (already redacted) request, so the design's order holds:

    input guard -> retrieval (search, chunk guard, budgeted context) -> prompt build -> engine

The budget is measured with the engine's own tokenizer on the exact final prompt, so the
prompt plus max_tokens never exceeds the model's n_ctx (see `prepare`). Everything here but
`begin`/`prepare` is pure and unit-tested without a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warden.api.errors import APIError
from warden.api.guard import evidence
from warden.engine.base import EngineError, GenerationRequest
from warden.retrieval.context import Context, context_budget
from warden.retrieval.search import Hit
from warden.retrieval.versions import VersionError
from warden.safety.findings import Category, Redactor, Verdict
from warden.safety.pipeline import ROLE_CATEGORIES

if TYPE_CHECKING:
    from warden.api.state import AppState
    from warden.retrieval.service import Retrieval
    from warden.store.keys import Principal

log = logging.getLogger(__name__)

# Retrieved text is third-party content: the guard looks for what the pipeline checks in tool
# results (PII, indirect injection) plus abuse we would not want to feed the model. Crisis is
# left out: a help page about crisis lines is a legitimate source, not the user's intent.
CHUNK_CATEGORIES: frozenset[Category] = ROLE_CATEGORIES["tool"] | {"toxicity"}
INSTRUCTION = ("Answer the question using the numbered sources below. Cite the sources you "
               "use by their number, like [1]. If the sources do not contain the answer, "
               "say so.")
SOURCES_HEADER = "Sources:"
_COUNT_TIMEOUT_S = 30.0  # a tokenizer call never takes this long; a stopped loop might

# The kill-switch hook: a callable the lead wires onto AppState.retrieval_switch; it answers
# "may retrieval run right now?". None (the default) means on.
RetrievalSwitch = Callable[[], Awaitable[bool]]

FilterValue = str | int | float | bool


class RetrievalOptions(BaseModel):
    """The `retrieval` object of /v1/generate and /v1/chat/completions."""

    model_config = ConfigDict(extra="forbid")
    corpus: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                               description="Default: retrieval.default_corpus.")
    k: int | None = Field(None, ge=1, le=50, description="Chunks to retrieve; default "
                          "retrieval.default_k.")
    as_of: datetime | None = Field(None, description="Answer from the index version that was "
                                   "active at this ISO 8601 time (UTC if no zone).")
    filters: dict[str, FilterValue | list[FilterValue]] | None = Field(
        None, description="Metadata filters: {key: value} or {key: [any, of]}; 'source' and "
                          "'doc_id' address the chunk's own fields.")

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


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
@dataclasses.dataclass
class RagRun:
    """One request's retrieval. `prepare` fills the outcome the response reports."""

    options: RetrievalOptions
    corpus: str
    retrieval: Retrieval | None = None
    state: AppState | None = None
    principal: Principal | None = None
    request_id: str = ""
    query: str = ""
    n_ctx: int = 0
    skipped: str | None = None
    context: Context | None = None
    version: int | None = None
    blocked: int = 0
    redacted: int = 0
    retrieved: int = 0

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
                "k": self.options.k or (self.retrieval.config.default_k
                                        if self.retrieval else None),
                "as_of": self.options.as_of.isoformat() if self.options.as_of else None,
                "dropped": self.blocked,           # chunks the guard blocked: never served
                "redacted": self.redacted,         # chunks served with PII redacted
                "retrieved": self.retrieved,
                "over_budget": len(context.dropped),
                "context_tokens": context.tokens,
                "budget": context.budget,
            },
        }

    async def prepare(self, request: GenerationRequest, redactor: Redactor | None
                      ) -> GenerationRequest:
        """Search, guard the chunks, fit them in the window, inject them (or not)."""
        if self.skipped is not None or self.retrieval is None or self.state is None:
            return request
        state, retrieval, query = self.state, self.retrieval, self.query
        engine = state.service.engine_for(request.model)
        loop = asyncio.get_running_loop()

        def count_request(candidate: GenerationRequest) -> int:
            # build_context runs in a worker thread; the engine's tokenizer lives on the loop.
            return asyncio.run_coroutine_threadsafe(
                engine.count_prompt_tokens(candidate), loop).result(timeout=_COUNT_TIMEOUT_S)

        try:
            base = await engine.count_prompt_tokens(request)
        except EngineError as exc:
            raise APIError(exc.status_code, str(exc), code=exc.code) from exc
        budget = context_budget(self.n_ctx, base, request.sampling.max_tokens,
                                retrieval.config.context.max_tokens)
        guard = state.service.guard
        pipeline = guard.pipeline(self.principal.tier) \
            if guard is not None and guard.enabled and self.principal is not None else None
        screened: list[Screened] = []

        def screen(hits: Sequence[Hit]) -> list[Hit]:
            if pipeline is None:
                return list(hits)
            result = screen_hits(hits, lambda text, r: pipeline.check_text(
                text, CHUNK_CATEGORIES, r), redactor or Redactor())
            screened.append(result)
            return result.hits

        actor = self.principal.key_id if self.principal else "api"

        def run() -> tuple[Any, Context]:
            load_embedder(retrieval)
            return retrieval.retrieve(
                query, budget=budget, count_tokens=context_counter(request, base, count_request),
                actor=actor, request_id=self.request_id, corpus=self.corpus, k=self.options.k,
                as_of=self.options.as_of, filters=self.options.filters, screen=screen)

        try:
            result, context = await asyncio.to_thread(run)
        except VersionError as exc:
            exists = bool(await asyncio.to_thread(retrieval.list_versions, self.corpus))
            raise version_error(exc, self.corpus, exists) from exc
        self.version, self.context, self.retrieved = result.version, context, len(result.hits)
        if screened:
            self.blocked, self.redacted = len(screened[0].blocked), len(screened[0].redacted)
            await self._record(screened[0], result.version)
        return inject(request, context.text)

    async def _record(self, screened: Screened, version: int) -> None:
        """Each guard decision on a chunk is evidence: chunk id and findings, never text."""
        assert self.state is not None
        for stage_action, items in (("block", screened.blocked),
                                    ("redact", screened.redacted)):
            for hit, verdict in items:
                for category in verdict.categories or ("none",):
                    self.state.metrics.safety_events.labels("retrieval", category,
                                                            verdict.action).inc()
                payload = {"stage": "retrieval", "request_id": self.request_id,
                           "key_id": self.principal.key_id if self.principal else None,
                           "corpus": self.corpus, "version": version,
                           "chunk_id": hit.chunk_id, "doc_id": hit.doc_id,
                           "served": stage_action != "block", **evidence(verdict)}
                try:
                    await asyncio.to_thread(self.state.audit.append, "safety.intervention",
                                            "guard", payload)
                except Exception:
                    log.exception("audit append failed for chunk %s", hit.chunk_id[:12])


async def switched_on(state: AppState) -> bool:
    """THE kill-switch hook point: every RAG request asks here whether retrieval may run.
    `AppState.retrieval_switch` is None (on) until a switch store is wired in."""
    switch: RetrievalSwitch | None = getattr(state, "retrieval_switch", None)
    return True if switch is None else bool(await switch())


async def begin(state: AppState, principal: Principal, options: RetrievalOptions | None,
                request: GenerationRequest) -> RagRun | None:
    """Validate a request's retrieval options before any quota is spent; None if not asked.

    The search uses the question as the user asked it: it never leaves this process and the
    audit log keeps only its SHA-256, while a name the guard masks (NER also masks place
    names) would cost recall. The model sees the guarded question and guarded chunks."""
    if options is None:
        return None
    retrieval = getattr(state, "retrieval", None)
    if retrieval is None:
        raise APIError(400, "retrieval is disabled on this server (retrieval.enabled: false "
                            "in warden.yaml). Remove the 'retrieval' field or enable it.",
                       code="retrieval_disabled", param="retrieval")
    corpus = options.corpus or retrieval.config.default_corpus
    if not await switched_on(state):
        return RagRun(options, corpus, skipped="switched_off")
    query = extract_query(request)
    if not query:
        raise APIError(400, "retrieval needs a question to search with: send a prompt or a "
                            "user message.", code="invalid_value", param="retrieval")
    try:
        await asyncio.to_thread(retrieval.searcher.resolve, corpus, as_of=options.as_of)
    except VersionError as exc:
        exists = bool(await asyncio.to_thread(retrieval.list_versions, corpus))
        raise version_error(exc, corpus, exists) from exc
    n_ctx = next((m.n_ctx for m in state.config.models if m.name == request.model), 0)
    return RagRun(options, corpus, retrieval=retrieval, state=state, principal=principal,
                  request_id=request.request_id, query=query, n_ctx=n_ctx)


# lifespan ----------------------------------------------------------------------------------
def build_retrieval(state_config: Any, db: Any, audit: Any) -> Retrieval | None:
    """One Retrieval per app when retrieval.enabled. Cheap: no model, no index is loaded."""
    if not state_config.retrieval.enabled:
        return None
    from warden.retrieval.service import Retrieval

    return Retrieval(db, state_config.retrieval, audit=audit)


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
