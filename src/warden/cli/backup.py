"""`warden backup create | list | verify ID | restore ID --confirm`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail
from warden.cli.index import print_table

if TYPE_CHECKING:
    from warden.config import WardenConfig
    from warden.retrieval.index import IndexManager
    from warden.store.db import Database

app = typer.Typer(help="Back up and restore chunks, index versions, the active pointers, API "
                       "keys (hashed) and a config snapshot.", no_args_is_help=True)

CLI_ACTOR = "cli"
FromOption = Annotated[Path | None, typer.Option(
    "--from", help="Directory holding backups (default: <retrieval.data_dir>/backups).")]


def _indexes(db: Database, data_dir_config: object) -> IndexManager:
    from warden.config.retrieval import retrieval_config
    from warden.retrieval.index import IndexManager
    from warden.retrieval.store import ChunkStore
    from warden.retrieval.versions import VersionStore

    rcfg = retrieval_config(data_dir_config)
    return IndexManager(ChunkStore(db), VersionStore(db), rcfg)


def _backups_root(cfg: WardenConfig, from_dir: Path | None) -> Path:
    from warden.backup.archive import backups_root
    from warden.config.retrieval import retrieval_config

    return from_dir or backups_root(retrieval_config(cfg).data_dir)


def _backup_dir(root: Path, backup_id: str) -> Path:
    directory = root / backup_id
    if not directory.is_dir() or "/" in backup_id or backup_id.startswith("."):
        fail(f"no backup '{backup_id}' in {root}; see `warden backup list`")
    return directory


@app.command()
def create(
    description: Annotated[str | None, typer.Option("--description", help="A note kept in "
                                                    "the manifest.")] = None,
    index_files: Annotated[bool, typer.Option(
        "--index-files/--no-index-files", help="Include index files, so a restore answers "
        "identically without rebuilding.")] = True,
    config: ConfigOption = None,
) -> None:
    """Write a new backup under <data_dir>/backups/<id>/ and print its id."""
    from warden.backup.archive import BackupError, create_backup
    from warden.config import canonical_json, config_hash
    from warden.store.audit import AuditLog

    cfg = config_or_exit(config)
    db = database_or_exit(cfg)
    try:
        backup_id, manifest = create_backup(
            db, _indexes(db, cfg), config_json=canonical_json(cfg), config_hash=config_hash(cfg),
            description=description, include_index_files=index_files)
    except BackupError as exc:
        fail(str(exc))
    AuditLog(db).append("backup.create", CLI_ACTOR, {
        "backup_id": backup_id, "versions": manifest["versions"],
        "pointers": manifest["pointers"], "files": len(manifest["files"])})
    console.print(f"backup [bold]{backup_id}[/]: {len(manifest['versions'])} versions, "
                  f"{len(manifest['files'])} files", highlight=False)
    typer.echo(backup_id)


@app.command("list")
def list_(from_dir: FromOption = None, config: ConfigOption = None) -> None:
    """List backups, newest last."""
    from warden.backup.archive import list_backups

    root = _backups_root(config_or_exit(config), from_dir)
    table = Table("id", "created (UTC)", "versions", "files", "description")
    for manifest in list_backups(root):
        table.add_row(manifest["id"], (manifest.get("created_at") or "-")[:19],
                      ", ".join(map(str, manifest.get("versions", []))),
                      str(len(manifest.get("files", {}))), manifest.get("description") or "")
    print_table(table)


@app.command()
def verify(backup_id: Annotated[str, typer.Argument(help="An id from `warden backup list`.")],
           from_dir: FromOption = None, config: ConfigOption = None) -> None:
    """Check every file's SHA-256, each chunk's address and each version's Merkle root."""
    from warden.backup.restore import verify_backup

    root = _backups_root(config_or_exit(config), from_dir)
    report = verify_backup(_backup_dir(root, backup_id))
    if not report.ok:
        fail(f"backup {backup_id} is CORRUPTED:\n" + "\n".join(f"  - {p}"
                                                               for p in report.problems))
    console.print(f"[green]backup {backup_id} verified[/]: {len(report.manifest['files'])} "
                  "files, checksums, chunk addresses and Merkle roots match", highlight=False)


@app.command()
def restore(
    backup_id: Annotated[str, typer.Argument(help="An id from `warden backup list`.")],
    confirm: Annotated[bool, typer.Option("--confirm", help="Required: restore writes the "
                                          "store.")] = False,
    from_dir: FromOption = None,
    config: ConfigOption = None,
) -> None:
    """Verify, then restore onto an EMPTY store (a new database and data dir)."""
    if not confirm:
        fail("restore writes the store; run it again with --confirm", code=2)
    from warden.backup.archive import BackupError
    from warden.backup.restore import restore_backup
    from warden.config import config_hash
    from warden.store.audit import AuditLog

    cfg = config_or_exit(config)
    root = _backups_root(cfg, from_dir)
    directory = _backup_dir(root, backup_id)
    db = database_or_exit(cfg)
    try:
        report = restore_backup(db, _indexes(db, cfg), directory,
                                current_config_hash=config_hash(cfg))
    except BackupError as exc:
        fail(str(exc))
    AuditLog(db).append("backup.restore", CLI_ACTOR, {
        "backup_id": backup_id, "versions": report.versions, "pointers": report.pointers,
        "rows": report.rows})
    console.print(f"restored {backup_id}: " + ", ".join(
        f"{n} {name}" for name, n in report.rows.items()), highlight=False)
    console.print(f"active pointers: {report.pointers}", highlight=False)
    note = "matches" if report.config_matches else "DIFFERS from"
    console.print(f"config snapshot written to {report.config_snapshot}; it {note} the "
                  "running config", highlight=False)
