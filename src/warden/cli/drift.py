"""`warden drift report`: PSI per traffic feature, the current window against the baseline
window, read from the configured store (docs/rollout.md). No server is needed; a running
server also exports the values as warden_drift_psi{feature} when its drift job or GET
/admin/drift runs.

Exit codes: 0 no feature drifted; 1 a feature is at warn or alert; 2 the store cannot be read.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from warden.cli.canary import parse_duration
from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit

app = typer.Typer(help="Drift of live traffic (PSI per feature).", no_args_is_help=True)

_STYLE = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "alert": "[bold red]alert[/]",
          "insufficient": "[dim]insufficient[/]"}


@app.callback()
def drift() -> None:
    """A group, so `warden drift report` parses as written."""


@app.command("report")
def report(
    model: Annotated[list[str] | None, typer.Option("--model", help="Only this public model "
                                                    "name; repeat for more.")] = None,
    current: Annotated[str | None, typer.Option("--current", help="Current window, e.g. 1d "
                                                "(default rollouts.drift.current_window_s).")
                       ] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline window before "
                                                 "it, e.g. 7d.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """PSI of each feature (prompt and completion tokens, top retrieval score, guard scores
    per category, refusal rate, latency): warn above 0.1, alert above 0.25, and only when
    PSI also exceeds what sampling noise gives at these sample sizes."""
    from warden.rollout.drift_windows import drift_windows
    from warden.rollout.traffic import TrafficReader

    settings = config_or_exit(config)
    db = database_or_exit(settings)
    try:
        windows = drift_windows(
            TrafficReader(db), settings.rollouts.drift, models=model or (),
            current=timedelta(seconds=parse_duration(current, "--current")) if current
            else None,
            baseline=timedelta(seconds=parse_duration(baseline, "--baseline")) if baseline
            else None)
    finally:
        db.dispose()
    plain = windows.plain()
    if as_json:
        typer.echo(json.dumps(plain, indent=2))
    else:
        table = Table("feature", "verdict", "PSI", "noise bound", "baseline n", "current n",
                      title=f"drift: {plain['current']['start'][:19]} .. "
                            f"{plain['current']['end'][:19]} vs the window before")
        for row in plain["features"]:
            psi, bound = row["psi"], row["critical_value"]
            table.add_row(row["feature"], _STYLE[row["verdict"]],
                          "-" if psi is None else f"{psi:.4f}",
                          "-" if bound is None else f"{bound:.4f}", str(row["n_baseline"]),
                          str(row["n_current"]))
        console.print(table)
    if plain["worst"] in {"warn", "alert"}:
        raise typer.Exit(1)
