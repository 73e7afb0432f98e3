"""What every command shares: the --config option, loading it, and clean exits.

Every `warden` command starts by importing all of warden/cli/, so this package imports only
typer, rich's console and the standard library at module level. Anything heavier (the config
models, SQLAlchemy, the retrieval and safety stacks, uvicorn) is imported inside the command
that uses it; tests/unit/test_cli_imports.py keeps it that way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from warden.config import WardenConfig
    from warden.store.db import Database

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
    from warden.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        lines = "\n".join(f"  - {p}" for p in exc.problems)
        fail(f"invalid config ({exc.source}):\n{lines}", code=2)


def database_or_exit(config: WardenConfig) -> Database:
    from warden.store.db import StoreUnavailable, open_database

    try:
        return open_database(config.store.url)
    except StoreUnavailable as exc:
        fail(f"{exc}\nCheck store.url in the config (or WARDEN_STORE__URL).")


def store_location(url: str) -> str:
    """Where the store is, for people: a SQLite file's absolute path (a relative URL depends
    on the directory a command runs in), otherwise the URL without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from warden.store.db import redacted_url

    try:
        parsed = make_url(url)
    except ArgumentError:
        return redacted_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        return str(Path(database).expanduser().resolve())
    return redacted_url(url)
