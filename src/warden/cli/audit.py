"""`warden audit verify | export | purge`: the hash-chained audit log."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail

app = typer.Typer(help="Inspect and verify the hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(config: ConfigOption = None) -> None:
    """Recompute every link; report the first modified, deleted or reordered record."""
    from warden.store.audit import AuditLog

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
    from warden.store.audit import AuditLog

    db = database_or_exit(config_or_exit(config))
    lines = (json.dumps(r, sort_keys=True) + "\n" for r in AuditLog(db).export())
    if output is None:
        for line in lines:
            typer.echo(line, nl=False)
        return
    with output.open("w") as handle:
        count = sum(1 for line in lines if handle.write(line))
    console.print(f"wrote {count} records to {output}")


# Retention is about old records: an age under this is almost always a typo (0d = everything).
MIN_PURGE_AGE = timedelta(days=1)


@app.command()
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Age, e.g. 90d, 12h, 30m. "
                                            "Under 1d needs --yes.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm an age under 1d (0d deletes "
                                      "every record but the new anchor).")] = False,
    force_record_break: Annotated[bool, typer.Option(
        "--force-record-break", help="Purge even though the chain is broken; the anchor "
        "records the break, so `warden audit verify` keeps reporting it.")] = False,
    config: ConfigOption = None,
) -> None:
    """Apply retention: delete older records, keep the chain verifiable with an anchor.

    The chain is verified first; on a broken chain nothing is deleted (the broken records
    are the evidence) unless --force-record-break.
    """
    from warden.store.audit import AuditLog, ChainBroken

    age = parse_age(older_than)
    if age < MIN_PURGE_AGE and not yes:
        fail(f"--older-than {older_than} would delete records younger than a day"
             + (" (0 means every record)" if not age else "")
             + "; use an age of 1d or more, or add --yes if that is what you want", code=2)
    db = database_or_exit(config_or_exit(config))
    cutoff = datetime.now(UTC) - age
    try:
        result = AuditLog(db).purge(cutoff, actor="cli", record_break=force_record_break)
    except ChainBroken as exc:
        fail(f"nothing purged: audit chain broken at record {exc.problem.seq}: "
             f"{exc.problem.problem}. Purging would delete the evidence; inspect it with "
             "`warden audit export`, or purge anyway with --force-record-break (the purge "
             "anchor then records the break and `warden audit verify` keeps reporting it)")
    console.print(f"purged {result.count} records older than "
                  f"{cutoff.isoformat(timespec='seconds')}", highlight=False)
    if result.recorded_break is not None:
        console.print(f"[yellow]warning:[/] the chain is broken at record "
                      f"{result.recorded_break.seq}; the purge anchor records it and "
                      "`warden audit verify` will keep reporting it", highlight=False)
