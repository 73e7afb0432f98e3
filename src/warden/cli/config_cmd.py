"""`warden config check | hash`."""

from __future__ import annotations

from typing import Annotated

import typer

from warden.cli.common import ConfigOption, config_or_exit, console

app = typer.Typer(help="Validate the configuration and print its CONFIG_HASH.",
                  no_args_is_help=True)


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate warden.yaml plus WARDEN_* overrides; list every problem with its key path."""
    from warden.config import config_hash

    cfg = config_or_exit(config)
    console.print(f"[green]config OK[/]  models={[m.name for m in cfg.models]}  "
                  f"tiers={sorted(cfg.tiers)}  CONFIG_HASH={config_hash(cfg)}")


@app.command("hash")
def hash_(config: ConfigOption = None,
          show: Annotated[bool, typer.Option("--show", help="Also print the canonical JSON.")
                          ] = False) -> None:
    """Print CONFIG_HASH: SHA-256 of the canonical effective config, secrets excluded."""
    from warden.config import canonical_json, config_hash

    cfg = config_or_exit(config)
    if show:
        typer.echo(canonical_json(cfg))
    typer.echo(config_hash(cfg))
