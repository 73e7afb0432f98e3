"""The `warden` command.

Every invocation imports this module and, through it, every command module; they import only
typer, rich and the standard library at module level, so `warden --help` or `warden keys list`
starts without loading the model, retrieval or safety stacks (tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from warden import __version__
from warden.cli import advisory as advisory_cmd
from warden.cli import (
    audit,
    backup,
    batch,
    canary,
    config_cmd,
    drift,
    drill,
    incidents,
    index,
    keys,
    redteam,
    rollout,
    schedules,
    search,
    serve,
    switch,
)
from warden.cli import eval as eval_cmd

app = typer.Typer(
    name="warden",
    help="Warden: a safety-first, OpenAI-compatible LLM gateway.\n\n"
         "Start with `warden serve`, then `warden keys create --name me` in another shell.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help for every command: typer 0.29's rich formatter prints a value type
    # after every flag (`--json <bool>`, even `--help <bool>`) though a flag takes none.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"warden {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True,
        callback=_print_version)] = False,
) -> None:
    """Options that apply before any command (the help text is the app's, above)."""


app.command("serve")(serve.serve)
app.add_typer(config_cmd.app, name="config")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(index.app, name="index")
app.command("search")(search.search)
app.add_typer(backup.app, name="backup")
app.command("switch")(switch.switch)
app.add_typer(incidents.app, name="incidents")
app.command("redteam")(redteam.redteam)
app.add_typer(drill.app, name="drill")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(batch.app, name="batch")
app.add_typer(advisory_cmd.app, name="advisory")
app.add_typer(rollout.app, name="rollout")
app.add_typer(canary.app, name="canary")
app.add_typer(drift.app, name="drift")
app.command("schedules")(schedules.schedules)

if __name__ == "__main__":
    app()
