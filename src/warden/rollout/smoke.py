"""The canary's smoke eval: the same questions, sent the same way, to each arm.

Items and prompts come from the evaluation runner (`evaluation.runner.prepare`: the shipped
pydocs dataset, a split, a limit, few-shot off by default so no embedder loads), and each
request is the runner's deterministic body (temperature 0, seed 42, `cache: false`) with the
model set to `<rollout>@<arm>`, which pins the arm (admin key). Results are written as the
runner writes them (results.jsonl, one `result_line` per item), so a run directory of
`warden eval run` and one of the canary are interchangeable as a `--baseline`.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.evaluation.client import EndpointError, WardenClient
from warden.evaluation.dataset import SHIPPED_DATASET, EvalItem, align_doc_id
from warden.evaluation.records import (
    ItemResult,
    absorb_response,
    item_figures,
    new_result,
    request_body,
    result_line,
)
from warden.evaluation.runner import Prepared, RunOptions, UsageError, prepare
from warden.rollout.arms import RolloutError
from warden.rollout.canary import ArmEval, ItemFigures

RESULTS = "results.jsonl"


@dataclass(frozen=True)
class SmokePlan:
    prepared: Prepared
    k: int | None = None

    @classmethod
    def build(cls, url: str, key: str, *, items: int, split: str | None, max_tokens: int,
              k: int | None = None, dataset: Path = SHIPPED_DATASET) -> SmokePlan:
        options = RunOptions(url=url, key=key, dataset=dataset, split=split, limit=items,
                             few_shot=0, judge="none", max_tokens=max_tokens, k=k)
        try:
            return cls(prepare(options), k)
        except UsageError as exc:
            raise RolloutError(f"smoke items: {exc}") from None

    @property
    def size(self) -> int:
        return len(self.prepared.items)


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def figures_of(result: ItemResult) -> ItemFigures:
    figures = item_figures(result)
    cited = result.cited() or ()
    oracle, used = figures["oracle_retrieval_hit_prefilter"], figures["reader_used_gold"]
    return ItemFigures(result.item.id, float(figures["token_f1"] or 0.0),
                       None if oracle is None else bool(oracle),
                       None if used is None else bool(used), len(cited),
                       sum(result.gold.matches(r) for r in cited), _sha(result.answer),
                       result.error)


def run_arm(client: WardenClient, plan: SmokePlan, model: str, out: Path | None = None, *,
            concurrency: int = 4) -> ArmEval:
    """Every smoke item against `model` (a few at once: the engine batches them, and at
    temperature 0 an answer does not depend on its batch-mates); a failed request is an
    item with an error (F1 0)."""
    options = plan.prepared.options

    def ask(item: EvalItem) -> ItemResult:
        prompt = plan.prepared.prompts[item.id]
        body = request_body(prompt, item, model, options.max_tokens, plan.k)
        result = new_result(item, prompt, body)
        try:
            timed = client.chat(body)
            absorb_response(result, timed.body, timed.latency_s)
        except EndpointError as exc:
            if exc.status is None or exc.status in {401, 403, 404, 409}:
                raise  # the arm or the server cannot be asked at all: not an item's failure
            result.error = str(exc)
        return result

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        results = list(pool.map(ask, plan.prepared.items))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with (out / RESULTS).open("w", encoding="utf-8") as handle:
            for result in results:
                handle.write(json.dumps(result_line(result), sort_keys=True,
                                        ensure_ascii=False) + "\n")
    return ArmEval(tuple(figures_of(r) for r in results))


def _line_figures(line: dict[str, Any]) -> ItemFigures:
    metrics = line.get("metrics") or {}
    gold = [str(d) for d in line.get("gold_doc_ids") or ()]
    doc_of = {str(c.get("chunk_id")): align_doc_id(str(c.get("doc_id")), gold)
              for c in line.get("citations") or () if isinstance(c, dict)}
    cited = [str(c) for c in line.get("cited") or ()]
    oracle, used = metrics.get("oracle_retrieval_hit_prefilter"), \
        metrics.get("reader_used_gold")
    return ItemFigures(str(line["id"]), float(metrics.get("token_f1") or 0.0),
                       None if oracle is None else bool(oracle),
                       None if used is None else bool(used), len(cited),
                       sum(doc_of.get(c) in gold for c in cited),
                       _sha(line.get("answer")), line.get("error"))


def load_run(run_dir: Path) -> ArmEval:
    """A `warden eval run` (or canary arm) directory's results.jsonl as figures."""
    path = run_dir / RESULTS if run_dir.is_dir() else run_dir
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RolloutError(f"--baseline: cannot read {path} ({exc.strerror or exc}); give a "
                           "`warden eval run` output directory") from None
    try:
        items = [_line_figures(json.loads(line)) for line in lines if line.strip()]
    except (ValueError, KeyError, TypeError) as exc:
        raise RolloutError(f"--baseline: {path} is not a results.jsonl of `warden eval run` "
                           f"({exc})") from None
    if not items:
        raise RolloutError(f"--baseline: {path} holds no items")
    return ArmEval(tuple(items))
