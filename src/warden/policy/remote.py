"""Running the semantic suite and replays against a live server (the CLI and the benchmark).

`evaluate` asks POST /admin/advisory/evaluate, which runs the advisor exactly as served but
records nothing; `--record` replays through POST /v1/advisory instead, so the situations
become live traffic in each action type's mode (shadow, normally).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from warden.policy.decision import Decision
from warden.policy.measurement import Rate, distribution, grouped
from warden.policy.situation import Situation
from warden.policy.suite import CaseResult, SuiteCase

Progress = Callable[[int, int], None]


class RemoteError(Exception):
    pass


class AdvisoryClient:
    def __init__(self, url: str, key: str, timeout_s: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s,
                                  headers={"authorization": f"Bearer {key}"},
                                  transport=transport)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise RemoteError(f"{type(exc).__name__} calling {path}: {exc}") from exc
        return _answer(response, path)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise RemoteError(f"{type(exc).__name__} calling {path}: {exc}") from exc
        return _answer(response, path)

    def evaluate(self, situation: Situation, current: Decision | None = None,
                 prompt_variant: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"situation": situation.plain()}
        if current is not None:
            body["current_decision"] = current.value
        if prompt_variant is not None:
            body["prompt_variant"] = prompt_variant
        return self._post("/admin/advisory/evaluate", body)

    def advise(self, situation: Situation, current: Decision | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"situation": situation.plain()}
        if current is not None:
            body["current_decision"] = current.value
        return self._post("/v1/advisory", body)

    def close(self) -> None:
        self._http.close()


def _answer(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        raise RemoteError(f"{path} answered {response.status_code}: "
                          f"{message or response.text[:200]}")
    if not isinstance(body, dict):
        raise RemoteError(f"{path} answered {type(body).__name__}, not a JSON object")
    return body


def run_suite(client: AdvisoryClient, cases: Sequence[SuiteCase], *,
              prompt_variant: str | None = None,
              progress: Progress | None = None) -> list[CaseResult]:
    results = []
    for done, case in enumerate(cases, 1):
        answer = client.evaluate(case.situation, prompt_variant=prompt_variant)
        results.append(CaseResult(
            case, Decision(answer["decision"]) if answer["decision"] else None,
            Decision(answer["hybrid_decision"]), Decision(answer["rules_decision"]),
            float(answer["latency_ms"]), answer["error"], answer.get("reasoning")))
        if progress:
            progress(done, len(cases))
    return results


@dataclass(frozen=True)
class HistoricalDecision:
    situation: Situation
    decision: Decision


def load_history(path: Path) -> list[HistoricalDecision]:
    """JSONL rows {situation, decision} (also accepted: current_decision or expected)."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            said = raw.get("decision", raw.get("current_decision", raw.get("expected")))
            rows.append(HistoricalDecision(Situation.model_validate(raw["situation"]),
                                           Decision.parse(said)))
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise ValueError(f"{path} line {number}: needs situation and decision "
                             f"({exc})") from exc
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def replay(client: AdvisoryClient, history: Sequence[HistoricalDecision], *, record: bool,
           level: float = 0.95, progress: Progress | None = None) -> dict[str, Any]:
    """Offline agreement of the advisor with historical decisions (and, with `record`, the
    same situations sent as live traffic)."""
    outcomes: list[tuple[HistoricalDecision, Decision | None]] = []
    for done, row in enumerate(history, 1):
        answer = client.advise(row.situation, row.decision) if record else \
            client.evaluate(row.situation, row.decision)
        said = answer.get("decision")
        if record:  # a fallback answer carries the current decision: not the advisor's
            said = None if str(answer.get("reasoning", "")).startswith("fallback") else said
        outcomes.append((row, Decision(said) if said else None))
        if progress:
            progress(done, len(history))

    def agreement(rows: Sequence[tuple[HistoricalDecision, Decision | None]]) -> dict[str, Any]:
        return Rate.of(sum(a == h.decision for h, a in rows), len(rows), level).plain()

    return {
        "rows": len(outcomes), "recorded": record, "agreement": agreement(outcomes),
        "by_action": {a: agreement(rows) for a, rows in
                      grouped(outcomes, lambda o: o[0].situation.action_type).items()},
        "errors": sum(a is None for _, a in outcomes),
        "historical_distribution": distribution(h.decision for h, _ in outcomes),
        "advisor_distribution": distribution(a for _, a in outcomes if a is not None),
    }
