"""`warden audit verify`: check the hash chain end to end."""

from __future__ import annotations

import typer

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail
from warden.store.audit import AuditLog

app = typer.Typer(help="Inspect and verify the hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(config: ConfigOption = None) -> None:
    """Recompute every link; report the first modified, deleted or reordered record."""
    db = database_or_exit(config_or_exit(config))
    checked, problem = AuditLog(db).verify()
    if problem is not None:
        fail(f"audit chain broken at record {problem.seq}: {problem.problem} "
             f"({checked} records read)")
    console.print(f"[green]audit chain intact[/]: {checked} records")
