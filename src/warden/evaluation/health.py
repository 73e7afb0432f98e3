"""Health gates, checked before any eval item runs: a run on a broken deployment measures
the breakage, not the release, so it stops here with exit 3 and the failing gate named.

Gates, in order: config (readyz answers with a CONFIG_HASH and nothing else is unready),
database, model (listed, ready, and a one-token generation works), corpora (every corpus the
dataset names has an active version and passes the prefix-leakage check), token_budget
(every item's prompt, system + few-shot + question, plus max_tokens leaves room for sources
in n_ctx; the server budgets the sources themselves), judge (answers with valid JSON).

The gate functions are pure (facts in, verdict out); `check_health` gathers the facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from warden.evaluation.client import EndpointError, WardenClient

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _checks(readyz: Mapping[str, Any]) -> dict[str, Any]:
    checks = readyz.get("checks")
    return checks if isinstance(checks, dict) else {}


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class HealthGate:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def plain(self) -> dict[str, Any]:
        return {"gate": self.name, "status": str(self.status), "detail": self.detail,
                "fix": self.fix}

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix and self.status is Status.FAIL else ""
        return f"{self.name}: {self.status} ({self.detail}){fix}"


@dataclass(frozen=True)
class HealthReport:
    gates: tuple[HealthGate, ...]

    @property
    def passed(self) -> bool:
        return all(g.status is not Status.FAIL for g in self.gates)

    def failed(self) -> list[HealthGate]:
        return [g for g in self.gates if g.status is Status.FAIL]

    def plain(self) -> dict[str, Any]:
        return {"passed": self.passed, "gates": [g.plain() for g in self.gates]}


@dataclass
class ServerFacts:
    """What the gates learned and the manifest pins."""

    config_hash: str | None = None
    model: dict[str, Any] | None = None
    corpora: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_ctx: int | None = None
    prompt_tokens: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthPlan:
    model: str | None
    corpora: tuple[str, ...]
    prompts: Mapping[str, Sequence[dict[str, str]]]  # item id -> messages
    max_tokens: int
    min_context_tokens: int = 256
    judge_probe: Callable[[], str] | None = None  # detail on success; raises on failure
    judge_skip_reason: str | None = None


# pure gates --------------------------------------------------------------------------------
def config_gate(status: int, body: Mapping[str, Any]) -> HealthGate:
    config_hash = body.get("config_hash")
    if not isinstance(config_hash, str) or not _SHA256.match(config_hash):
        return HealthGate("config", Status.FAIL, f"GET /readyz answered {status} without a "
                          "config_hash", "point --url at a Warden server (`warden serve`)")
    checks = _checks(body)
    other = sorted(name for name, ok in checks.items()
                   if not ok and name != "database" and not name.startswith("model:"))
    if body.get("draining"):
        other.append("draining")
    if other:
        return HealthGate("config", Status.FAIL, f"readyz {status}: not ready ({', '.join(other)})",
                          "wait for the server to finish starting, or fix what readyz names "
                          "(e.g. the limiter's Redis)")
    return HealthGate("config", Status.PASS, f"CONFIG_HASH {config_hash[:16]}…")


def database_gate(body: Mapping[str, Any]) -> HealthGate:
    if _checks(body).get("database") is True:
        return HealthGate("database", Status.PASS, "readyz: database answers")
    return HealthGate("database", Status.FAIL, "readyz: database check failed",
                      "check store.url and that the database is up (`warden audit verify` "
                      "on the server host)")


def model_gate(name: str, models: Sequence[Mapping[str, Any]], readyz: Mapping[str, Any],
               generation_error: str | None) -> HealthGate:
    ids = [str(m.get("id")) for m in models]
    if name not in ids:
        return HealthGate("model", Status.FAIL, f"model '{name}' is not served (models: "
                          f"{', '.join(ids) or 'none'})", "pass --model with a listed id")
    if _checks(readyz).get(f"model:{name}") is False:
        return HealthGate("model", Status.FAIL, f"readyz: model:{name} is not ready",
                          "wait for the model to load, or check the upstream it points to")
    if generation_error is not None:
        return HealthGate("model", Status.FAIL, f"a one-token generation failed: "
                          f"{generation_error}", "check the server log for the engine error")
    return HealthGate("model", Status.PASS, f"'{name}' listed, ready, one-token generation ok")


def corpus_gate(name: str, view: Mapping[str, Any] | None) -> HealthGate:
    gate = f"corpus:{name}"
    fix = (f"ingest it (`warden index ingest PATH --corpus {name}`) or activate a version "
           f"(`warden index activate VERSION`)")
    if view is None or not view.get("active_version"):
        return HealthGate(gate, Status.FAIL, f"corpus '{name}' has no active version", fix)
    health = view.get("health")
    if not isinstance(health, dict):
        return HealthGate(gate, Status.FAIL, "the server did not run the prefix-leakage check",
                          "upgrade the server (GET /v1/corpora/NAME?health=true)")
    if not health.get("ok"):
        problems = "; ".join(str(p) for p in (health.get("problems") or [])[:3])
        return HealthGate(gate, Status.FAIL, f"prefix-leakage check failed on version "
                          f"{view.get('active_version')}: {problems}",
                          "re-ingest the corpus; see `warden index health`")
    return HealthGate(gate, Status.PASS, f"version {view['active_version']}, "
                      f"{view.get('chunk_count')} chunks, prefix-leakage check ok "
                      f"({health.get('rows_checked')} rows)")


def budget_gate(prompt_tokens: Mapping[str, int], max_tokens: int, n_ctx: int | None,
                min_context_tokens: int) -> HealthGate:
    if n_ctx is None:
        return HealthGate("token_budget", Status.FAIL, "the server did not report n_ctx",
                          "upgrade the server (POST /v1/tokenize returns n_ctx)")
    if not prompt_tokens:
        return HealthGate("token_budget", Status.FAIL, "no item to check",
                          "select at least one item")
    room = {i: n_ctx - tokens - max_tokens for i, tokens in prompt_tokens.items()}
    over = sorted((r, i) for i, r in room.items() if r < min_context_tokens)
    largest = max(prompt_tokens.values())
    if over:
        worst_room, worst = over[0]
        return HealthGate("token_budget", Status.FAIL,
                          f"{len(over)} of {len(room)} items leave under {min_context_tokens} "
                          f"tokens for sources; worst {worst}: prompt {prompt_tokens[worst]} + "
                          f"max_tokens {max_tokens} leaves {worst_room} of n_ctx {n_ctx}",
                          "lower --max-tokens or --few-shot, or serve the model with a "
                          "larger n_ctx")
    return HealthGate("token_budget", Status.PASS,
                      f"{len(room)} items: prompt ≤ {largest} + max_tokens {max_tokens} leaves "
                      f"≥ {min(room.values())} of n_ctx {n_ctx} for sources")


# gathering the facts -----------------------------------------------------------------------
def _skipped(names: Sequence[str], why: str) -> list[HealthGate]:
    return [HealthGate(name, Status.SKIP, f"not checked: {why}") for name in names]


def _one_token(client: WardenClient, model: str) -> str | None:
    try:
        client.chat({"model": model, "messages": [{"role": "user", "content": "Say OK."}],
                     "max_tokens": 1, "temperature": 0, "seed": 42, "cache": False})
    except EndpointError as exc:
        return str(exc)
    return None


def _budget(client: WardenClient, plan: HealthPlan, model: str, facts: ServerFacts
            ) -> HealthGate:
    try:
        for item_id, messages in plan.prompts.items():
            answer = client.tokenize(list(messages), model)
            facts.prompt_tokens[item_id] = int(answer["tokens"])
            if isinstance(answer.get("n_ctx"), int):
                facts.n_ctx = answer["n_ctx"]
    except (EndpointError, KeyError, TypeError, ValueError) as exc:
        return HealthGate("token_budget", Status.FAIL, f"POST /v1/tokenize failed: {exc}",
                          "check the server log")
    return budget_gate(facts.prompt_tokens, plan.max_tokens, facts.n_ctx,
                       plan.min_context_tokens)


def _judge(plan: HealthPlan) -> HealthGate:
    if plan.judge_probe is None:
        return HealthGate("judge", Status.SKIP, plan.judge_skip_reason or "no judge")
    try:
        return HealthGate("judge", Status.PASS, plan.judge_probe())
    except (EndpointError, ValueError) as exc:
        return HealthGate("judge", Status.FAIL, f"the judge did not answer with valid JSON: "
                          f"{exc}", "check --judge, --judge-model and --judge-key, or run "
                          "with --judge none (claim metrics then unmeasured)")


def check_health(client: WardenClient, plan: HealthPlan) -> tuple[HealthReport, ServerFacts]:
    facts = ServerFacts()
    later = ["database", "model", *(f"corpus:{c}" for c in plan.corpora), "token_budget",
             "judge"]
    try:
        status, body = client.readyz()
    except EndpointError as exc:
        gate = HealthGate("config", Status.FAIL, str(exc), "start `warden serve` or fix --url")
        return HealthReport((gate, *_skipped(later, "the server did not answer"))), facts
    gates = [config_gate(status, body)]
    if gates[0].status is Status.FAIL:
        return HealthReport((*gates, *_skipped(later, "the config gate failed"))), facts
    facts.config_hash = str(body["config_hash"])
    gates.append(database_gate(body))
    try:
        models = client.models()
    except EndpointError as exc:
        gate = HealthGate("model", Status.FAIL, f"GET /v1/models failed: {exc}",
                          "check --key and the server log")
        return HealthReport((*gates, gate, *_skipped(later[2:], "no model list"))), facts
    model = plan.model or (str(models[0].get("id")) if models else "")
    facts.model = next((m for m in models if m.get("id") == model), None)
    listed = facts.model is not None
    gates.append(model_gate(model, models, body, _one_token(client, model) if listed else None))
    for corpus in plan.corpora:
        try:
            view = client.corpus(corpus, health=True)
        except EndpointError as exc:
            gates.append(HealthGate(f"corpus:{corpus}", Status.FAIL, str(exc),
                                    "check that retrieval is enabled on the server"))
            continue
        if view is not None:
            facts.corpora[corpus] = view
        gates.append(corpus_gate(corpus, view))
    gates.append(_budget(client, plan, model, facts) if listed else
                 HealthGate("token_budget", Status.SKIP, "not checked: no such model"))
    gates.append(_judge(plan))
    return HealthReport(tuple(gates)), facts
