"""`warden redteam --url URL --key KEY`: run the red-team suite against a live server.

Exit codes: 0 every case passed (or was skipped / a documented known gap), 1 a case failed,
2 the run could not happen (bad case file, server unreachable, key refused).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warden.cli.common import console, fail

if TYPE_CHECKING:
    from warden.redteam.runner import CaseResult

# Triggers evaluate every switches.evaluate_every_s (1 s by default): wait that long, plus
# margin, before asking which switches the run turned off.
TRIGGER_SETTLE_S = 2.5
_MARK = {"passed": "[green]pass[/]", "failed": "[bold red]FAIL[/]",
         "known_gap": "[yellow]gap [/]", "skipped": "[cyan]skip[/]"}


def redteam(  # noqa: PLR0917 -- typer maps each option to a parameter
    url: Annotated[str | None, typer.Option("--url", help="Base URL of the server, e.g. "
                                            "http://127.0.0.1:8080.", show_default=False)
                   ] = None,
    key: Annotated[str | None, typer.Option("--key", help="A user API key (the tier the "
                                            "fixture tools are configured for).",
                                            show_default=False)] = None,
    admin_key: Annotated[str | None, typer.Option("--admin-key", help="An admin key: runs the "
                                                  "cases that read admin endpoints and "
                                                  "reports switches the run tripped.",
                                                  show_default=False)] = None,
    cases: Annotated[Path | None, typer.Option("--cases", help="Directory of *.yaml cases "
                                               "(default: the shipped suite).",
                                               show_default=False)] = None,
    category: Annotated[str | None, typer.Option("--category", help="Run only this "
                                                 "category (comma-separated for several).",
                                                 show_default=False)] = None,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="Where to write the JSON "
                                                  "report (default ./redteam-<UTC time>.json).",
                                                  show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per request.")] = 120.0,
    fixtures: Annotated[bool, typer.Option("--fixtures", help="Print the fixture corpus "
                                           "directory (for `warden index ingest`) and exit.")
                        ] = False,
) -> None:
    """Attack a running Warden and check it holds: injection and jailbreaks, schema abuse,
    tool misuse, retrieval poisoning, PII exfiltration.

    Each case is a request (or a multi-step protocol) plus what the answer must look like;
    see docs/redteam.md. Prints a pass/fail table by category and writes JSON evidence.
    Cases whose fixture (a tool, a corpus, an admin key) is missing are reported skipped,
    with the reason.
    """
    from warden.redteam.cases import FIXTURE_CORPUS, SHIPPED_CASES, CaseError, load_cases
    from warden.redteam.report import default_path, document, print_report, tripped, write_json
    from warden.redteam.runner import Runner, RunnerError

    if fixtures:
        console.print(str(FIXTURE_CORPUS), highlight=False, soft_wrap=True)
        return
    if not url or not key:
        fail("--url and --key are required (e.g. --url http://127.0.0.1:8080 --key wk_...)",
             code=2)
    cases_dir = cases or SHIPPED_CASES
    try:
        loaded = load_cases(cases_dir)
    except CaseError as exc:
        fail(f"invalid case file: {exc}", code=2)
    if category:
        wanted = {c.strip() for c in category.split(",") if c.strip()}
        known = {c.category for c in loaded}
        unknown = sorted(wanted - known)
        if unknown:
            fail(f"unknown --category {', '.join(unknown)}; the cases have: "
                 f"{', '.join(sorted(known))}", code=2)
        loaded = [c for c in loaded if c.category in wanted]

    def show(result: CaseResult) -> None:
        console.print(f"{_MARK[result.status]} {result.category:<20} {result.id}",
                      highlight=False)

    started = datetime.now(UTC)
    runner = Runner(url, key, admin_key, timeout=timeout)
    try:
        runner.tools = runner.discover_tools()
        runner.discover_model()
        runner.check_admin_key()
        before = runner.switches_off()
        results = runner.run(loaded, on_result=show)
        after = runner.switches_off(settle_s=TRIGGER_SETTLE_S)
    except RunnerError as exc:
        fail(str(exc), code=2)
    finally:
        runner.close()
    finished = datetime.now(UTC)
    flipped = tripped(before, after)
    print_report(console, results, flipped)
    out = json_out or default_path(started)
    write_json(document(results, url=url, cases_dir=str(cases_dir), started=started,
                        finished=finished, category=category, switches_tripped=flipped), out)
    console.print(f"report: {out}", highlight=False)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
