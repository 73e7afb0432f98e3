"""`warden switch [NAME [on|off]] [--reason TEXT]`: show or flip the kill switches.

Works directly against the configured store (database, and Redis when store.redis_url is
set), like `warden keys`: every running replica honours a flip within a second.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail

if TYPE_CHECKING:
    from warden.safety.switches.store import Switches, SwitchState

CLI_ACTOR = "cli"


def _when(state: SwitchState) -> str:
    return state.changed_at.strftime("%Y-%m-%d %H:%M:%S") if state.changed_at else "-"


def _table(switches: Switches) -> Table:
    table = Table("switch", "state", "effective", "reason", "by", "changed (UTC)", "incident")
    for state in switches.all():
        effective = switches.is_on(state.name)
        table.add_row(state.name, "[green]on[/]" if state.on else "[bold red]off[/]",
                      "on" if effective else "off", state.reason or "-", state.actor,
                      _when(state), state.incident_id or "-")
    return table


def _plain(switches: Switches, state: SwitchState) -> dict[str, object]:
    return {"name": state.name, **state.plain(), "effective_on": switches.is_on(state.name)}


def switch(
    name: Annotated[str | None, typer.Argument(help="retrieval, tools, or tool:NAME (one "
                                               "tool). Omit to list every switch.",
                                               show_default=False)] = None,
    action: Annotated[str | None, typer.Argument(help="on or off. Omit to show the switch.",
                                                 show_default=False)] = None,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why (required for "
                                               "off; shown to whoever turns it back on).")
                      ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")
                       ] = False,
    config: ConfigOption = None,
) -> None:
    """Show the kill switches, or turn one on or off.

    Off stops the feature on every replica within a second (audited).

    retrieval: answer without retrieved context. tools: run no tool. tool:NAME: not this tool.

    A switch turned off by an automatic trigger stays off until someone turns it on.

    \b
    warden switch
    warden switch retrieval off --reason "poisoned source under review"
    warden switch tools on
    """
    from warden.safety.switches.factory import build_switches
    from warden.safety.switches.names import known_switch_names, unknown_switch_problem

    if action is not None and action not in ("on", "off"):
        fail(f"the second argument must be 'on' or 'off', not '{action}'", code=2)
    cfg = config_or_exit(config)
    problem = None if name is None else unknown_switch_problem(name, known_switch_names(cfg))
    if problem is not None:
        fail(problem, code=2)
    switches = build_switches(cfg, database_or_exit(cfg))
    try:
        _run(switches, name, action, reason, as_json)
    finally:
        switches.close()


def _run(switches: Switches, name: str | None, action: str | None, reason: str | None,
         as_json: bool) -> None:
    from warden.safety.switches.store import ReasonRequired, SwitchError

    try:
        switches.refresh()
        if name is None:
            if as_json:
                typer.echo(json.dumps([_plain(switches, s) for s in switches.all()], indent=1))
            else:
                _print(_table(switches))
            return
        state = switches.state(name) if action is None else \
            switches.set(name, action == "on", CLI_ACTOR, reason)
    except ReasonRequired as exc:
        fail(f"{exc}: add --reason \"...\"", code=2)
    except SwitchError as exc:
        fail(str(exc), code=2)
    if as_json:
        typer.echo(json.dumps(_plain(switches, state), indent=1))
        return
    word = "[green]ON[/]" if state.on else "[bold red]OFF[/]"
    console.print(f"{state.name} is {word} (by {state.actor}, {_when(state)} UTC"
                  + (f", reason: {state.reason}" if state.reason else "")
                  + (f", incident {state.incident_id}" if state.incident_id else "") + ")",
                  highlight=False, soft_wrap=True)
    if state.on and not switches.is_on(state.name):
        console.print("note: 'tools' is off, so this tool stays off until 'tools' is on")


def _print(table: Table) -> None:
    # Piped output keeps full-width rows (rich would squeeze them to 80 columns).
    (console if console.is_terminal else Console(width=200, highlight=False)).print(table)
