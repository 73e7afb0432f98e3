"""What every command shares: the --config option, loading it, and clean exits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from warden.config import ConfigError, WardenConfig, load_config
from warden.store.db import Database, StoreUnavailable, open_database

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to warden.yaml (default: $WARDEN_CONFIG, then "
                 "./warden.yaml, then built-in defaults).", show_default=False),
]


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def config_or_exit(path: Path | None) -> WardenConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        lines = "\n".join(f"  - {p}" for p in exc.problems)
        fail(f"invalid config ({exc.source}):\n{lines}", code=2)


def database_or_exit(config: WardenConfig) -> Database:
    try:
        return open_database(config.store.url)
    except StoreUnavailable as exc:
        fail(f"{exc}\nCheck store.url in the config (or WARDEN_STORE__URL).")
