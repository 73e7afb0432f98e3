"""`warden incidents list | show | note | resolve`: incidents and their timelines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail

if TYPE_CHECKING:
    from warden.store.incidents import Incidents, IncidentView

app = typer.Typer(help="List, inspect, annotate and resolve incidents (opened by safety "
                       "escalations and kill-switch triggers).", no_args_is_help=True)

CLI_ACTOR = "cli"
IdArgument = Annotated[str, typer.Argument(help="The id shown by `warden incidents list`.")]


def _print(table: Table) -> None:
    (console if console.is_terminal else Console(width=200, highlight=False)).print(table)


def _ts(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _show(incident: IncidentView) -> None:
    console.print(f"[bold]{incident.id}[/] {incident.kind} severity={incident.severity} "
                  f"status={incident.status} opened {_ts(incident.opened_at)} UTC",
                  highlight=False, soft_wrap=True)
    console.print(incident.summary, highlight=False, soft_wrap=True)
    table = Table("time (UTC)", "event", "actor", "detail")
    for event in incident.events:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(event["detail"].items()))
        table.add_row(event["ts"][:19].replace("T", " "), event["kind"], event["actor"],
                      detail or "-")
    _print(table)


@app.command("list")
def list_(status: Annotated[str | None, typer.Option("--status", help="open or resolved.")
                            ] = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
          config: ConfigOption = None) -> None:
    """List incidents, newest first."""
    from warden.store.incidents import Incidents

    if status not in (None, "open", "resolved"):
        fail(f"--status must be 'open' or 'resolved', not '{status}'", code=2)
    found = Incidents(database_or_exit(config_or_exit(config))).list(status)
    if as_json:
        typer.echo(json.dumps([i.as_dict() for i in found], indent=1))
        return
    table = Table("id", "opened (UTC)", "kind", "severity", "status", "summary")
    for incident in found:
        table.add_row(incident.id, _ts(incident.opened_at), incident.kind, incident.severity,
                      incident.status, incident.summary)
    _print(table)


def _get(incidents: Incidents, incident_id: str) -> IncidentView:
    from warden.store.incidents import IncidentNotFound

    try:
        return incidents.get(incident_id)
    except IncidentNotFound:
        fail(f"no incident '{incident_id}'; see `warden incidents list`")


@app.command()
def show(incident_id: IdArgument,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
         config: ConfigOption = None) -> None:
    """Show one incident with its timeline."""
    from warden.store.incidents import Incidents

    incident = _get(Incidents(database_or_exit(config_or_exit(config))), incident_id)
    if as_json:
        typer.echo(json.dumps(incident.as_dict(), indent=1))
    else:
        _show(incident)


@app.command()
def note(incident_id: IdArgument,
         text: Annotated[str, typer.Option("--note", help="What was found or done.")],
         config: ConfigOption = None) -> None:
    """Add a note to an incident's timeline (audited)."""
    from warden.store.audit import AuditLog
    from warden.store.incidents import IncidentNotFound, Incidents

    if not text.strip():
        fail("--note must not be empty", code=2)
    db = database_or_exit(config_or_exit(config))
    incidents = Incidents(db)
    try:
        incidents.add_event(incident_id, "note", CLI_ACTOR, {"note": text.strip()})
    except IncidentNotFound:
        fail(f"no incident '{incident_id}'; see `warden incidents list`")
    AuditLog(db).append("incident.note", CLI_ACTOR, {"incident_id": incident_id})
    _show(incidents.get(incident_id))


@app.command()
def resolve(incident_id: IdArgument,
            text: Annotated[str, typer.Option("--note", help="How it was resolved.")],
            config: ConfigOption = None) -> None:
    """Mark an incident resolved with a closing note (audited).

    Resolving does not turn a kill switch back on: do that with `warden switch NAME on`.
    """
    from warden.store.audit import AuditLog
    from warden.store.incidents import Incidents

    if not text.strip():
        fail("--note must not be empty", code=2)
    db = database_or_exit(config_or_exit(config))
    incidents = Incidents(db)
    current = _get(incidents, incident_id)
    if current.status == "resolved":
        fail(f"incident '{incident_id}' is already resolved ({_ts(current.resolved_at)} UTC)")
    view = incidents.resolve(incident_id, CLI_ACTOR, text.strip())
    AuditLog(db).append("incident.resolve", CLI_ACTOR, {"incident_id": incident_id})
    _show(view)
