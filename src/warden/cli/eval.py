"""`warden eval ...`: release evaluation against a running server.

    warden eval health   --url URL --key KEY [--dataset FILE]          the health gates alone
    warden eval manifest --url URL --key KEY [--dataset FILE] [--gates FILE] [--format yaml|json]
    warden eval run      --url URL --key KEY [--dataset FILE] [--suite smoke|full] [--gates FILE]
                         [--judge builtin|none|URL] [--judge-repeat N] [--out DIR]
    warden eval score    --ragchecker FILE [--json]                     score RAGChecker labels
    warden eval compare  RUN_DIR_A RUN_DIR_B [--json]                   deltas with intervals

Exit codes: 0 pass, 1 a gate or suite check failed (named on stderr), 2 usage error, 3 a
health gate failed before anything ran (named). Everything heavy is imported inside the
command that needs it, so `warden --help` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.table import Table

from warden.cli.common import ConfigOption, console, fail

if TYPE_CHECKING:
    from warden.evaluation.ragchecker import RagCheckerScore
    from warden.evaluation.runner import RunOptions

app = typer.Typer(help="Release evaluation: health gates, frozen manifests, deterministic "
                  "runs, RAG metrics and quality gates.", no_args_is_help=True)


@app.callback()
def evaluation() -> None:
    """Release evaluation against a running Warden (see docs/evaluation.md)."""


# Shared options --------------------------------------------------------------------------
Url = Annotated[str, typer.Option("--url", envvar="WARDEN_URL", help="The Warden server.")]
Key = Annotated[str | None, typer.Option("--key", envvar="WARDEN_KEY", help="An API key on "
                                         "the server (a tier with room for the run's rpm).",
                                         show_default=False)]
DatasetOpt = Annotated[Path | None, typer.Option(
    "--dataset", help="JSONL eval set (default: the shipped pydocs_qa.jsonl).",
    show_default=False)]
Suite = Annotated[str | None, typer.Option("--suite", help="smoke (12 dev items + ops "
                                           "checks) or full (test split + triage).")]
Split = Annotated[str | None, typer.Option("--split", help="Only items of this split "
                                           "(overrides the suite's).")]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="At most this many items "
                                           "(the first by id).")]
Ids = Annotated[list[str] | None, typer.Option("--id", help="Only this item id "
                                               "(repeatable).")]
Gates = Annotated[Path | None, typer.Option("--gates", help="Quality gates YAML (default: "
                                            "the go-live seed's gates).")]
Judge = Annotated[str, typer.Option("--judge", help="builtin (the server's own model), none "
                                    "(claim metrics unmeasured), or an OpenAI-compatible base "
                                    "URL such as http://vllm:8000/v1.")]
JudgeModel = Annotated[str | None, typer.Option("--judge-model", help="Judge model id "
                                                "(default: the eval model / the first listed).")]
JudgeKey = Annotated[str | None, typer.Option("--judge-key", envvar="WARDEN_JUDGE_KEY",
                                              help="Key for a --judge URL.", show_default=False)]
JudgeRepeat = Annotated[int, typer.Option("--judge-repeat", min=1, help="Label every claim N "
                                          "times (seeds 42..) and report the judge's noise.")]
JudgeItems = Annotated[int | None, typer.Option("--judge-items", min=1, help="Judge only the "
                                                "first N answered items.")]
Model = Annotated[str | None, typer.Option("--model", help="Model to evaluate (default: the "
                                           "first the server lists).")]
MaxTokens = Annotated[int, typer.Option("--max-tokens", min=1, help="Answer length cap.")]
K = Annotated[int | None, typer.Option("--k", min=1, max=50, help="Chunks retrieved per "
                                       "question (default: the corpus's default_k).")]
FewShot = Annotated[int, typer.Option("--few-shot", min=0, help="Few-shot examples per "
                                      "question (0: none, no embedder loaded).")]
Timeout = Annotated[float, typer.Option("--timeout", min=1, help="Seconds per request.")]


def _options(values: dict[str, Any]) -> RunOptions:
    """RunOptions from a command's parameters (typer passes each option by its field name)."""
    from dataclasses import fields

    from warden.evaluation.dataset import SHIPPED_DATASET
    from warden.evaluation.runner import RunOptions

    if not values.get("key"):
        _usage("--key (or WARDEN_KEY) is required: `warden keys create --name eval`")
    known = {f.name for f in fields(RunOptions)}
    chosen = {name: value for name, value in values.items() if name in known}
    chosen["dataset"] = values.get("dataset") or SHIPPED_DATASET
    chosen["ids"] = tuple(values.get("ids") or ())
    chosen["timeout_s"] = values["timeout"]
    return RunOptions(**chosen)


def _session(options: RunOptions) -> Any:
    from warden.evaluation.runner import UsageError, open_session, prepare

    try:
        return open_session(prepare(options))
    except UsageError as exc:
        _usage(str(exc))


def _fail_health(session: Any) -> None:
    from warden.evaluation.runner import EXIT_HEALTH

    for gate in session.health.failed():
        _stderr(f"health gate failed: {gate.name}: {gate.detail}"
                + (f"; {gate.fix}" if gate.fix else ""))
    raise typer.Exit(EXIT_HEALTH)


def _stderr(message: str) -> None:
    """One plain line per problem (scripts grep these): no markup, emoji or wrapping."""
    typer.echo(message, err=True)


def _usage(message: str) -> NoReturn:
    _stderr(f"error: {message}")
    raise typer.Exit(2)


@app.command("health")
def health(  # noqa: PLR0917 -- typer maps each option to a parameter
        url: Url = "http://127.0.0.1:8080", key: Key = None, dataset: DatasetOpt = None,
           suite: Suite = None, split: Split = None, limit: Limit = None, ids: Ids = None,
           judge: Judge = "builtin", judge_model: JudgeModel = None, judge_key: JudgeKey = None,
           model: Model = None, max_tokens: MaxTokens = 128, k: K = None,
           few_shot: FewShot = 2, config: ConfigOption = None, timeout: Timeout = 300.0,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
           ) -> None:
    """Run the health gates only: config, database, model, corpora (active version and the
    prefix-leakage check), token budget for every item, judge. Exit 3 names a failing gate."""
    from warden.evaluation.runner import echo_health

    session = _session(_options(locals()))
    session.client.close()
    if as_json:
        typer.echo(json.dumps(session.health.plain(), indent=2))
    else:
        echo_health(session.health, console)
    if not session.health.passed:
        _fail_health(session)


@app.command("manifest")
def manifest(  # noqa: PLR0917 -- typer maps each option to a parameter
        url: Url = "http://127.0.0.1:8080", key: Key = None, dataset: DatasetOpt = None,
             suite: Suite = None, split: Split = None, limit: Limit = None, ids: Ids = None,
             gates: Gates = None, judge: Judge = "builtin", judge_model: JudgeModel = None,
             judge_key: JudgeKey = None, judge_repeat: JudgeRepeat = 1,
             judge_items: JudgeItems = None, model: Model = None,
             max_tokens: MaxTokens = 128, k: K = None, few_shot: FewShot = 2,
             config: ConfigOption = None, timeout: Timeout = 300.0,
             fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml"
             ) -> None:
    """Print the manifest a run with these options would freeze (after the health gates)."""
    from warden.evaluation.runner import manifest_for

    if fmt not in ("yaml", "json"):
        _usage(f"--format {fmt}: use yaml or json")
    session = _session(_options(locals()))
    session.client.close()
    if not session.health.passed:
        _fail_health(session)
    frozen = manifest_for(session)
    typer.echo(frozen.to_yaml() if fmt == "yaml" else frozen.to_json(), nl=fmt == "json")


@app.command("run")
def run(  # noqa: PLR0917 -- typer maps each option to a parameter
        url: Url = "http://127.0.0.1:8080", key: Key = None, dataset: DatasetOpt = None,
        suite: Suite = None, split: Split = None, limit: Limit = None, ids: Ids = None,
        gates: Gates = None, judge: Judge = "builtin", judge_model: JudgeModel = None,
        judge_key: JudgeKey = None, judge_repeat: JudgeRepeat = 1,
        judge_items: JudgeItems = None, model: Model = None, max_tokens: MaxTokens = 128,
        k: K = None, few_shot: FewShot = 2, config: ConfigOption = None,
        timeout: Timeout = 300.0,
        out: Annotated[Path | None, typer.Option("--out", help="Output directory (default: "
                                                 "outbox/eval/<utc-stamp>/).")] = None
        ) -> None:
    """Health gates, a frozen manifest, every item (temperature 0, seed 42, caches off),
    metrics, quality gates; writes manifest.yaml, results.jsonl, report.json, report.md and
    chart.png, and records the run in the audit log."""
    from warden.evaluation.runner import UsageError
    from warden.evaluation.runner import run as run_eval

    options = _options(locals())
    try:
        code = run_eval(options, console, _stderr)
    except UsageError as exc:
        _usage(str(exc))
    raise typer.Exit(code)


@app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="The baseline run directory.")],
    run_b: Annotated[Path, typer.Argument(help="The candidate run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per-metric deltas B - A on the paired items, with 95% paired bootstrap intervals."""
    from warden.evaluation.compare import RunDirError, compare_runs, load_run, table_rows

    try:
        result = compare_runs(load_run(run_a), load_run(run_b))
    except RunDirError as exc:
        _usage(str(exc))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table("metric", "n", "A", "B", "B - A", "95% CI", "call",
                  title=f"{result['paired_items']} paired items; {result['answers_changed']} "
                  "answers changed")
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    differences = result["manifest_differences"]
    typer.echo("manifests: " + ("identical" if result["same_manifest"] else
                                "differ in " + ", ".join(differences)))


# score: RAGChecker's labels, no model ---------------------------------------------------
_SHORT = {"precision": "P", "recall": "R", "f1": "F1", "claim_recall": "CR",
          "context_precision": "CP", "context_utilization": "CU",
          "noise_sensitivity_in_relevant": "NS-rel",
          "noise_sensitivity_in_irrelevant": "NS-irr", "hallucination": "Hal",
          "self_knowledge": "SK", "faithfulness": "Faith"}


def _figure(value: float | None) -> str:
    return "unmeasured" if value is None else f"{value:.1f}"


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}"


def _summary_table(result: RagCheckerScore) -> Table:
    from warden.evaluation.ragchecker import METRIC_GROUPS

    table = Table("group", "metric", "value (0-100)", title="RAGChecker metrics "
                  f"(macro average over {len(result.per_query)} queries)")
    for group, names in METRIC_GROUPS.items():
        for name in names:
            table.add_row(group, name, _figure(result.metrics[name].value))
    return table


def _query_table(result: RagCheckerScore) -> Table:
    from warden.evaluation.ragchecker import METRICS

    table = Table("query", *(_SHORT[name] for name in METRICS), title="Per query (x100)",
                  box=box.SIMPLE, pad_edge=False, collapse_padding=True,
                  caption="P precision, R recall, CR claim_recall, CP context_precision, "
                  "CU context_utilization, NS noise_sensitivity_in_*, Hal hallucination, "
                  "SK self_knowledge, Faith faithfulness; - needs a missing label set")
    for query in result.per_query:
        table.add_row(query.query_id, *(_percent(query.metrics[name]) for name in METRICS))
    return table


@app.command("score")
def score(
    ragchecker: Annotated[Path, typer.Option(
        "--ragchecker", help="RAGChecker checking-output JSON (what ragchecker-cli writes "
        "with --output_path): results[] with response_claims, gt_answer_claims and the "
        "answer2response, response2answer, retrieved2response, retrieved2answer labels.",
        show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: overall, retriever, "
                                          "generator, unmeasured and per-query results.")
                       ] = False,
) -> None:
    """Score RAGChecker's claim labels with RAGChecker's definitions; no model is called.

    Only "Entailment" counts as true. Each figure is the macro average over queries x 100.

    A metric whose label set is missing is shown as unmeasured, with the reason.

    Exits 2 when the file is unreadable or malformed; the message names the place.
    """
    from warden.evaluation.ragchecker import score_queries
    from warden.evaluation.ragchecker_input import CheckingOutputError, load_checking_output

    try:
        queries = load_checking_output(ragchecker)
    except CheckingOutputError as exc:
        fail(f"cannot score it: {exc}", code=2)
    result = score_queries(queries)
    if as_json:
        typer.echo(json.dumps(result.plain(), indent=2))
        return
    console.print(_summary_table(result))
    console.print(_query_table(result))
    for name, reason in result.unmeasured().items():
        console.print(f"[yellow]unmeasured[/] {name}: {reason}", highlight=False)
