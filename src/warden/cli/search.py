"""`warden search "QUERY" [-k 5] [--corpus] [--as-of TIMESTAMP]`: hybrid search from the shell."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail
from warden.cli.index import print_table

CLI_ACTOR = "cli"
SNIPPET_CHARS = 110


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 (a date, or a date and time); without a zone it means UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--as-of '{value}' is not an ISO 8601 timestamp (e.g. 2025-06-01T12:00:00Z)",
             code=2)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    *,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=100, help="Hits to show.")] = 5,
    corpus: Annotated[str | None, typer.Option("--corpus")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Answer from the version that was active at this time (ISO 8601).")
    ] = None,
    version: Annotated[int | None, typer.Option("--version", help="Search this version "
                                                "instead of the active one.")] = None,
    filters: Annotated[list[str] | None, typer.Option(
        "--filter", help="Metadata filter key=value; repeat a key for any-of.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Hybrid search (BM25 + vectors, weighted RRF) on the active index version."""
    from warden.config.retrieval import retrieval_config
    from warden.retrieval.audit import record_retrieval
    from warden.retrieval.filters import parse_filters
    from warden.retrieval.search import Searcher
    from warden.retrieval.versions import VersionError
    from warden.store.audit import AuditLog

    cfg = config_or_exit(config)
    rcfg = retrieval_config(cfg)
    db = database_or_exit(cfg)
    try:
        wanted = parse_filters(filters or [])
    except ValueError as exc:
        fail(str(exc), code=2)
    when = parse_timestamp(as_of) if as_of else None
    try:
        result = Searcher(db, rcfg).search(query, corpus=corpus, k=k, as_of=when,
                                           version=version, filters=wanted)
    except VersionError as exc:
        fail(str(exc))
    if rcfg.audit_queries:
        record_retrieval(AuditLog(db), CLI_ACTOR, result, k=k)
    if as_json:
        typer.echo(json.dumps({"corpus": result.corpus, "version": result.version,
                               "hits": [asdict(h) for h in result.hits]}, ensure_ascii=False))
        return
    table = Table("#", "score", "source", "chunk id", "snippet",
                  title=f"corpus '{result.corpus}', version {result.version}"
                        + (f" (as of {when.isoformat()})" if when else ""))
    for n, hit in enumerate(result.hits, start=1):
        snippet = " ".join(hit.text.split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS - 1] + "…"
        table.add_row(str(n), f"{hit.score:.4f}", hit.source, hit.chunk_id[:12], snippet)
    print_table(table)
    if not result.hits:
        console.print("no hits")


app = typer.Typer(help="Search an index version.", no_args_is_help=True)
app.command("search")(search)
