"""The red-team report: a rich table by category, the failures, and the JSON evidence."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from warden.redteam.runner import CaseResult

STATUSES = ("passed", "failed", "known_gap", "skipped")


def summary(results: list[CaseResult]) -> dict[str, int]:
    counts: Counter[str] = Counter(r.status for r in results)
    return {"total": len(results), **{s: counts.get(s, 0) for s in STATUSES}}


def by_category(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for result in results:
        row = out.setdefault(result.category, {s: 0 for s in STATUSES})
        row[result.status] += 1
    return out


def tripped(before: list[dict[str, Any]] | None, after: list[dict[str, Any]] | None
            ) -> list[dict[str, Any]]:
    """Switches off after the run that were on before it (a trigger fired during the run)."""
    if after is None:
        return []
    was_off = {s["name"] for s in before or []}
    return [s for s in after if s["name"] not in was_off]


def document(results: list[CaseResult], *, url: str, cases_dir: str, started: datetime,
             finished: datetime, category: str | None,
             switches_tripped: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON evidence. No keys, no response bodies: ids, statuses, codes, problems."""
    return {"kind": "warden.redteam", "version": 1, "url": url, "cases_dir": cases_dir,
            "category": category, "started_at": started.isoformat(),
            "finished_at": finished.isoformat(), "passed": not any(
                r.status == "failed" for r in results),
            "summary": summary(results), "by_category": by_category(results),
            "switches_tripped": switches_tripped,
            "results": [r.plain() for r in results]}


def default_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"redteam-{stamp}.json")


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _cell(n: int, style: str) -> str:
    return f"[{style}]{n}[/]" if n else "0"


def print_report(console: Console, results: list[CaseResult],
                 switches_tripped: list[dict[str, Any]]) -> None:
    table = Table("category", "cases", "passed", "failed", "known gap", "skipped",
                  title="warden redteam")
    for name, row in sorted(by_category(results).items()):
        table.add_row(name, str(sum(row.values())), _cell(row["passed"], "green"),
                      _cell(row["failed"], "bold red"), _cell(row["known_gap"], "yellow"),
                      _cell(row["skipped"], "cyan"))
    totals = summary(results)
    table.add_section()
    table.add_row("all", str(totals["total"]), _cell(totals["passed"], "green"),
                  _cell(totals["failed"], "bold red"), _cell(totals["known_gap"], "yellow"),
                  _cell(totals["skipped"], "cyan"))
    console.print(table)
    for result in results:
        if result.status == "failed":
            console.print(f"[bold red]FAIL[/] {result.id} ({result.category}): "
                          f"{result.description}", highlight=False)
            for problem in result.problems:
                console.print(f"     - {problem}", highlight=False, markup=False)
    for result in results:
        if result.status == "known_gap":
            console.print(f"[yellow]GAP[/]  {result.id}: {result.reason}", highlight=False)
        elif result.status == "skipped":
            console.print(f"[cyan]SKIP[/] {result.id}: {result.reason}", highlight=False)
        if result.note:
            console.print(f"[yellow]NOTE[/] {result.id}: {result.note}", highlight=False)
    for switch in switches_tripped:
        actor = str(switch.get("actor") or "")
        why = "A trigger did its job: the run looked like an attack. " \
            if actor.startswith("trigger:") else ""
        console.print(f"[yellow]warning:[/] switch '{switch['name']}' went off during the run "
                      f"({actor}: {switch.get('reason')}). {why}Turn it back on with "
                      f"`warden switch {switch['name']} on` once reviewed.", highlight=False)
