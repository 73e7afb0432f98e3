"""`warden index ingest | versions | activate | rollback | health`: versioned indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from warden.cli.common import (
    ConfigOption,
    config_or_exit,
    console,
    database_or_exit,
    err_console,
    fail,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from warden.retrieval.service import Retrieval

app = typer.Typer(help="Ingest documents into versioned indexes; list, activate and roll "
                       "back versions.", no_args_is_help=True)

CLI_ACTOR = "cli"
CorpusOption = Annotated[str | None, typer.Option("--corpus", help="Corpus name (default: "
                                                  "retrieval.default_corpus).")]


def print_table(table: Table) -> None:
    """Wide tables stay readable when piped: rich would squeeze them to 80 columns."""
    (console if console.is_terminal else Console(width=200, highlight=False)).print(table)


class RichProgress:
    """Stages as rich progress bars on stderr; run ids and versions as plain stdout lines."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._total = 1

    def finish(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, total=self._total, completed=self._total)

    def stage(self, name: str, total: int | None = None) -> None:
        self.finish()
        self._total = total or 1
        self._task = self._progress.add_task(name, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def note(self, message: str) -> None:
        typer.echo(message)  # click flushes: a supervisor reading the pipe sees it at once


def _retrieval(config: Path | None) -> Retrieval:
    from warden.config.retrieval import retrieval_config
    from warden.retrieval.service import Retrieval
    from warden.store.audit import AuditLog

    cfg = config_or_exit(config)
    db = database_or_exit(cfg)
    return Retrieval(db, retrieval_config(cfg), audit=AuditLog(db))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (.txt .md .html "
                                                     ".jsonl .pdf and source code).")],
    corpus: CorpusOption = None,
    activate: Annotated[bool | None, typer.Option(
        "--activate/--no-activate", help="Point the corpus at the new version. Default: only "
        "when the corpus has no active version yet.", show_default=False)] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    config: ConfigOption = None,
) -> None:
    """Build a new immutable index version; prints INGEST_RUN_ID and the version."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from warden.retrieval.documents import DocumentError
    from warden.retrieval.ingest import IngestError
    from warden.retrieval.versions import VersionError

    retrieval = _retrieval(config)
    columns = (SpinnerColumn(), TextColumn("{task.description:<22}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err_console, transient=False) as bars:
            sink = RichProgress(bars)
            report = retrieval.ingest(paths, corpus=corpus, activate=activate,
                                      actor=CLI_ACTOR, progress=sink, description=description)
            sink.finish()
    except (DocumentError, IngestError, VersionError) as exc:
        fail(str(exc))
    table = Table("", "", show_header=False, box=None)
    rows = [
        ("files / documents", f"{report.files} / {report.documents}"
                              + (f" ({report.skipped_files} skipped)" if report.skipped_files
                                 else "")),
        ("chunks", f"{report.chunks_total}"),
        ("duplicates removed", f"{report.exact_duplicates} exact + {report.near_duplicates} "
                               f"near = {report.dedup_rate:.1%} dedup rate"),
        ("quarantined (poison)", f"{report.quarantined}"),
        ("indexed", f"{report.chunks_indexed}"),
        ("embeddings", f"{report.embeddings_computed} computed, {report.embeddings_reused} "
                       "reused"),
        ("merkle root", report.merkle_root),
        ("throughput", f"{report.chunks_per_s:.1f} chunks/s ({report.elapsed_s:.1f} s)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    print_table(table)
    typer.echo(f"INGEST_RUN_ID={report.run_id}")
    typer.echo(f"VERSION={report.version}")
    state = "active" if report.activated else \
        f"ready, not active (activate with `warden index activate {report.version}`)"
    typer.echo(f"version {report.version} of corpus '{report.corpus}' is {state}")


@app.command()
def versions(corpus: CorpusOption = None, config: ConfigOption = None) -> None:
    """List versions with state, size, Merkle root and which one is active."""
    retrieval = _retrieval(config)
    pointers = retrieval.versions.pointers()
    table = Table("version", "corpus", "state", "active", "chunks", "quarantined", "dedup",
                  "created (UTC)", "merkle root", "run id")
    stale_after = datetime.now(UTC) - timedelta(minutes=10)
    for info in retrieval.list_versions(corpus):
        state = info.state
        if state == "building" and info.heartbeat_at < stale_after:
            state = "building (abandoned?)"  # killed runs stay invisible; nothing to clean
        table.add_row(str(info.id), info.corpus, state,
                      "*" if pointers.get(info.corpus) == info.id else "",
                      str(info.chunk_count), str(info.quarantined_count),
                      f"{info.stats['dedup_rate']:.1%}" if "dedup_rate" in info.stats else "-",
                      info.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                      (info.merkle_root or "-")[:16], info.ingest_run_id)
    print_table(table)


def _parse_version(value: str) -> int:
    try:
        return int(value.lower().removeprefix("v"))
    except ValueError:
        fail(f"'{value}' is not a version number (see `warden index versions`)", code=2)


@app.command("activate")
def activate_(version: Annotated[str, typer.Argument(help="Version number, e.g. 7 or v7.")],
              corpus: Annotated[str | None, typer.Option(
                  "--corpus", help="The corpus the version must belong to (refused "
                  "otherwise). Default: the version's own corpus.")] = None,
              config: ConfigOption = None) -> None:
    """Point the version's corpus at it (every replica follows within a second)."""
    from warden.retrieval.versions import VersionError

    retrieval = _retrieval(config)
    number = _parse_version(version)
    if corpus is not None:
        info = retrieval.versions.get(number)
        if info is not None and info.corpus != corpus:
            fail(f"version {number} belongs to corpus '{info.corpus}', not '{corpus}'; see "
                 f"`warden index versions --corpus {corpus}`", code=2)
    try:
        flip = retrieval.activate(number, CLI_ACTOR)
    except VersionError as exc:
        fail(str(exc))
    if not flip.changed:
        typer.echo(f"version {flip.current} is already active for corpus '{flip.corpus}'")
        return
    typer.echo(f"corpus '{flip.corpus}': version {flip.previous} -> {flip.current}")


@app.command()
def rollback(corpus: CorpusOption = None, config: ConfigOption = None) -> None:
    """Point the corpus back at the version that was active before the current one."""
    from warden.retrieval.versions import VersionError

    retrieval = _retrieval(config)
    try:
        flip = retrieval.rollback(corpus, CLI_ACTOR)
    except VersionError as exc:
        fail(str(exc))
    typer.echo(f"corpus '{flip.corpus}' rolled back: version {flip.previous} -> "
               f"{flip.current}")


@app.command()
def health(corpus: CorpusOption = None, config: ConfigOption = None) -> None:
    """Check the active version: no prefix leakage into BM25 or the reader, no quarantined
    chunk indexed, every stored chunk matches its address."""
    from warden.retrieval.versions import VersionError

    retrieval = _retrieval(config)
    try:
        report = retrieval.health(corpus)
    except VersionError as exc:
        fail(str(exc))
    if not report.ok:
        fail(f"corpus '{report.corpus}' version {report.version}: "
             + "; ".join(report.problems))
    console.print(f"[green]healthy[/]: corpus '{report.corpus}' version {report.version}, "
                  f"{report.rows_checked} rows checked")
