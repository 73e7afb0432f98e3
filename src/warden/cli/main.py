"""The `warden` command."""

from __future__ import annotations

import typer

from warden.cli import (
    audit,
    backup,
    config_cmd,
    drill,
    incidents,
    index,
    keys,
    redteam,
    search,
    serve,
    switch,
)

app = typer.Typer(
    name="warden",
    help="Warden: a safety-first, OpenAI-compatible LLM gateway.\n\n"
         "Start with `warden serve`, then `warden keys create --name me` in another shell.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
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

if __name__ == "__main__":
    app()
