"""`warden audit verify`: check the hash chain end to end."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

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


_DURATION = re.compile(r"^(\d+)([dhm])$")


def parse_age(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter("use a number and a unit: 90d, 12h or 30m")
    value, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=value), "h": timedelta(hours=value),
            "m": timedelta(minutes=value)}[unit]


@app.command()
def export(output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here "
                                                       "instead of stdout.")] = None,
           config: ConfigOption = None) -> None:
    """Write every record as JSON lines, oldest first, with its hashes."""
    db = database_or_exit(config_or_exit(config))
    lines = (json.dumps(r, sort_keys=True) + "\n" for r in AuditLog(db).export())
    if output is None:
        for line in lines:
            typer.echo(line, nl=False)
        return
    with output.open("w") as handle:
        count = sum(1 for line in lines if handle.write(line))
    console.print(f"wrote {count} records to {output}")


@app.command()
def purge(older_than: Annotated[str, typer.Option("--older-than", help="Age, e.g. 90d, 12h, "
                                                  "30m.")],
          config: ConfigOption = None) -> None:
    """Apply retention: delete older records, keep the chain verifiable with an anchor."""
    age = parse_age(older_than)
    db = database_or_exit(config_or_exit(config))
    cutoff = datetime.now(UTC) - age
    count = AuditLog(db).purge(cutoff, actor="cli")
    console.print(f"purged {count} records older than {cutoff.isoformat(timespec='seconds')}")
