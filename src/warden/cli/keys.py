"""`warden keys create | list | revoke`: manage API keys in the store directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from warden.cli.common import (
    ConfigOption,
    config_or_exit,
    console,
    database_or_exit,
    fail,
    store_location,
)

app = typer.Typer(help="Create, list and revoke API keys (secrets are stored hashed).",
                  no_args_is_help=True)

CLI_ACTOR = "cli"


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="A label for the key's owner.")],
    tier: Annotated[str | None, typer.Option("--tier", help="Rate-limit tier; default from "
                                             "auth.default_tier.")] = None,
    role: Annotated[str, typer.Option("--role", help="user or admin.")] = "user",
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days", min=1)] = None,
    config: ConfigOption = None,
) -> None:
    """Create a key and print its secret once. Only a salted hash is stored."""
    from warden.store.audit import AuditLog
    from warden.store.keys import KeyStore

    cfg = config_or_exit(config)
    if role not in ("user", "admin"):
        fail(f"--role must be 'user' or 'admin', not '{role}'", code=2)
    chosen_tier = tier or cfg.auth.default_tier
    if chosen_tier not in cfg.tiers:
        fail(f"--tier '{chosen_tier}' is not configured; tiers: {', '.join(sorted(cfg.tiers))}",
             code=2)
    db = database_or_exit(cfg)
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    info, secret = KeyStore(db).create(name, role, chosen_tier, expires)  # type: ignore[arg-type]
    AuditLog(db).append("key.create", CLI_ACTOR,
                        {"key_id": info.id, "role": info.role, "tier": info.tier})
    typer.echo(f"# key id {info.id} (name={name}, role={role}, tier={chosen_tier}); "
               "the secret below is shown only now", err=True)
    # A server only knows the keys in its own store: say which one this is, on stderr so
    # KEY=$(warden keys create ...) still captures just the secret.
    typer.echo(f"# store: {store_location(cfg.store.url)} (a server accepts this key only "
               "if it uses this store: same directory, WARDEN_HOME or store.url)", err=True)
    typer.echo(secret)


@app.command("list")
def list_(config: ConfigOption = None) -> None:
    """List keys (never their secrets)."""
    from warden.store.keys import KeyStore

    db = database_or_exit(config_or_exit(config))
    table = Table("id", "name", "role", "tier", "status", "created", "expires")
    for key in KeyStore(db).list():
        table.add_row(key.id, key.name, key.role, key.tier, key.status,
                      key.created_at.strftime("%Y-%m-%d %H:%M"),
                      key.expires_at.strftime("%Y-%m-%d") if key.expires_at else "-")
    console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The id shown by `warden keys list`.")],
           config: ConfigOption = None) -> None:
    """Revoke a key; every replica refuses it within a second."""
    from warden.store.audit import AuditLog
    from warden.store.keys import KeyNotFound, KeyStore

    db = database_or_exit(config_or_exit(config))
    try:
        KeyStore(db).revoke(key_id)
    except KeyNotFound:
        fail(f"no key with id '{key_id}'; see `warden keys list`")
    AuditLog(db).append("key.revoke", CLI_ACTOR, {"key_id": key_id})
    typer.echo(f"revoked {key_id}")
