"""`warden config check | hash`."""

from __future__ import annotations

import typer

from warden.cli.common import ConfigOption, config_or_exit, console
from warden.config import canonical_json, config_hash

app = typer.Typer(help="Validate the configuration and print its CONFIG_HASH.",
                  no_args_is_help=True)


@app.command()
def check(config: ConfigOption = None) -> None:
    """Validate warden.yaml plus WARDEN_* overrides; list every problem with its key path."""
    cfg = config_or_exit(config)
    console.print(f"[green]config OK[/]  models={[m.name for m in cfg.models]}  "
                  f"tiers={sorted(cfg.tiers)}  CONFIG_HASH={config_hash(cfg)}")


@app.command("hash")
def hash_(config: ConfigOption = None,
          show: bool = typer.Option(False, "--show", help="Also print the canonical JSON.")
          ) -> None:
    """Print CONFIG_HASH: SHA-256 of the canonical effective config, secrets excluded."""
    cfg = config_or_exit(config)
    if show:
        typer.echo(canonical_json(cfg))
    typer.echo(config_hash(cfg))
