"""`warden batch submit FILE.jsonl [--wait] | list | show ID | cancel ID`: the Batch API of a
running server, over HTTP (like `warden redteam`: --url and --key, or WARDEN_URL/WARDEN_KEY).

Exit codes: 0 done (or submitted, without --wait), 1 the batch ended failed, expired or
cancelled, 2 the request could not be made (file, server, key).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from warden.cli.common import console, fail

if TYPE_CHECKING:
    import httpx

app = typer.Typer(help="Batch jobs (the OpenAI Batch API) on a running server.",
                  no_args_is_help=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="WARDEN_URL",
                                        help="Base URL of the server.")]
KeyOption = Annotated[str, typer.Option("--key", envvar="WARDEN_KEY", show_default=False,
                                        help="Your API key (the batch belongs to it).")]
DONE = ("completed", "failed", "expired", "cancelled")


def _client(url: str, key: str) -> httpx.Client:
    import httpx

    return httpx.Client(base_url=url.rstrip("/"), timeout=60,
                        headers={"authorization": f"Bearer {key}"})


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {client.base_url}: {exc}", code=2)
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        fail(f"{method} {path} -> {response.status_code}: {message}", code=2)
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    return response.json() if kind == "application/json" else response.content


def _endpoint_of(path: Path) -> str:
    """The url of the file's first request line: one batch runs one endpoint."""
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            if raw.strip():
                try:
                    url = json.loads(raw).get("url")
                except (ValueError, AttributeError):
                    break
                if isinstance(url, str):
                    return url
                break
    return "/v1/chat/completions"


def _counts(batch: dict[str, Any]) -> str:
    c = batch.get("request_counts") or {}
    return f"{c.get('completed', 0)} completed, {c.get('failed', 0)} failed of {c.get('total', 0)}"


def _wait(client: httpx.Client, batch: dict[str, Any]) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(batch["status"], total=None)
        while batch["status"] not in DONE:
            time.sleep(1.0)
            batch = _call(client, "GET", f"/v1/batches/{batch['id']}")
            c = batch.get("request_counts") or {}
            bar.update(task, description=batch["status"], total=c.get("total") or None,
                       completed=c.get("completed", 0) + c.get("failed", 0))
    return batch


def _download(client: httpx.Client, file_id: str | None, target: Path) -> Path | None:
    if not file_id:
        return None
    target.write_bytes(_call(client, "GET", f"/v1/files/{file_id}/content"))
    return target


@app.command("submit")
def submit(  # noqa: PLR0917 -- typer maps each option to a parameter
    file: Annotated[Path, typer.Argument(help="JSONL: one {custom_id, method, url, body} per "
                                         "line.", exists=True, dir_okay=False)],
    key: KeyOption,
    url: UrlOption = "http://127.0.0.1:8080",
    endpoint: Annotated[str | None, typer.Option(
        "--endpoint", help="Default: the url of the file's first line.",
        show_default=False)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the batch with a progress bar, "
                                       "then download its output and error files.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Where --wait writes the output "
                                             "file (default FILE.output.jsonl beside FILE; the "
                                             "error file gets .errors.jsonl).",
                                             show_default=False)] = None,
) -> None:
    """Upload FILE, start a batch on it and print its id (with --wait: the output file)."""
    with _client(url, key) as client:
        uploaded = _call(client, "POST", "/v1/files", data={"purpose": "batch"},
                         files={"file": (file.name, file.read_bytes(), "application/jsonl")})
        batch = _call(client, "POST", "/v1/batches", json={
            "input_file_id": uploaded["id"], "endpoint": endpoint or _endpoint_of(file),
            "completion_window": "24h"})
        console.print(f"batch {batch['id']} ({batch['status']}), input {uploaded['id']}",
                      highlight=False)
        if not wait:
            return
        batch = _wait(client, batch)
        output = out or file.with_suffix(".output.jsonl")
        written = _download(client, batch.get("output_file_id"), output)
        errors = _download(client, batch.get("error_file_id"), output.with_name(
            output.stem.removesuffix(".output") + ".errors.jsonl"))
    console.print(f"batch {batch['id']} {batch['status']}: {_counts(batch)}", highlight=False)
    if errors is not None:
        console.print(f"errors: {errors}", highlight=False)
    if written is not None:
        typer.echo(str(written))
    if batch["status"] != "completed":
        raise typer.Exit(1)


@app.command("list")
def list_batches(key: KeyOption, url: UrlOption = "http://127.0.0.1:8080",
                 limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 20) -> None:
    """Your batches, newest first."""
    from rich.table import Table

    with _client(url, key) as client:
        page = _call(client, "GET", "/v1/batches", params={"limit": limit})
    table = Table("id", "status", "done/total", "failed", "created (UTC)")
    for b in page["data"]:
        c = b.get("request_counts") or {}
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(b["created_at"]))
        table.add_row(b["id"], b["status"], f"{c.get('completed', 0) + c.get('failed', 0)}/"
                      f"{c.get('total', 0)}", str(c.get("failed", 0)), created)
    console.print(table)


@app.command("show")
def show(batch_id: str, key: KeyOption, url: UrlOption = "http://127.0.0.1:8080") -> None:
    """One batch as JSON: status, request_counts, output and error file ids."""
    with _client(url, key) as client:
        typer.echo(json.dumps(_call(client, "GET", f"/v1/batches/{batch_id}"), indent=2))


@app.command("cancel")
def cancel(batch_id: str, key: KeyOption, url: UrlOption = "http://127.0.0.1:8080") -> None:
    """Stop a batch: no further lines start; answered lines stay in its output."""
    with _client(url, key) as client:
        batch = _call(client, "POST", f"/v1/batches/{batch_id}/cancel")
    console.print(f"batch {batch['id']} {batch['status']}: {_counts(batch)}", highlight=False)
