"""`warden schedules`: the scheduled jobs' last runs (and who holds a job's lease now), read
from the configured store. The jobs are configured under rollouts.schedules and run by the
server (docs/rollout.md, which also shows the Kubernetes CronJob alternative)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit

_STYLE = {"ok": "[green]ok[/]", "failed": "[bold red]failed[/]", "error": "[red]error[/]",
          "running": "[yellow]running[/]"}


def schedules(
    job: Annotated[str | None, typer.Option("--job", help="One job's history (e.g. "
                                            "nightly_smoke, drift, canary:NAME).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Runs shown with --job.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """The last run of every scheduled job (nightly smoke, weekly full eval, canary per
    rollout, drift): when, on which replica, its outcome and incident."""
    from warden.rollout.leases import JobStore

    settings = config_or_exit(config)
    db = database_or_exit(settings)
    try:
        store = JobStore(db)
        runs = store.runs(job, limit=limit) if job else store.latest_per_job()
        leases = store.leases()
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"enabled": settings.rollouts.schedules.enabled,
                               "runs": [r.plain() for r in runs], "leases": leases}, indent=2))
        return
    if not settings.rollouts.schedules.enabled:
        console.print("schedules are off in this config (rollouts.schedules.enabled: false)")
    table = Table("job", "status", "started (UTC)", "took", "replica", "detail", "incident",
                  title=f"history of {job}" if job else "last run of each job")
    for run in runs:
        took = "-" if run.finished_at is None else \
            f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
        detail = run.detail.get("reason") or run.detail.get("error") or ", ".join(
            f"{k}={v}" for k, v in run.detail.items()
            if k in {"verdict", "action", "worst", "exit_code"})
        table.add_row(run.job, _STYLE.get(run.status, run.status),
                      run.started_at.strftime("%Y-%m-%d %H:%M:%S"), took, run.holder,
                      str(detail)[:60], run.incident_id or "-")
    console.print(table)
    for lease in leases:
        console.print(f"lease: {lease['job']} held by {lease['holder']} until "
                      f"{lease['expires_at'][:19]}", highlight=False)
