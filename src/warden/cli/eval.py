"""`warden eval ...`: release evaluation. `score` rescores RAGChecker's checking labels.

`warden eval score --ragchecker FILE [--json]` reads the JSON that `ragchecker-cli
--output_path` writes and computes RAGChecker's metrics from its labels, without any model:
the same figures RAGChecker prints, plus every query's own values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from warden.cli.common import console, fail

if TYPE_CHECKING:
    from warden.evaluation.ragchecker import RagCheckerScore

app = typer.Typer(help="Release evaluation: score claim labels against gates.",
                  no_args_is_help=True)


@app.callback()
def evaluation() -> None:
    """A group, even while `score` is its only command (typer would otherwise run a lone
    command directly, and `warden eval score` would stop parsing)."""

# Column headings for the per-query table, in METRICS order.
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
    from warden.evaluation.ragchecker import METRIC_GROUPS  # numpy: only when scoring

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


app.command("score")(score)
