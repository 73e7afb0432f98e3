"""`warden drill kill-switch`: practise the kill switches against a live server.

Exit codes: 0 every check passed (a "not verifiable" check is reported, not failed),
1 a check failed, 2 the drill could not run (server unreachable, key refused).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from warden.cli.common import console, err_console, fail
from warden.redteam.drill import Check, KillSwitchDrill
from warden.redteam.runner import RunnerError

app = typer.Typer(help="Operational drills against a running server (audited).",
                  no_args_is_help=True)

_STYLE = {"ok": "[green]ok[/]", "failed": "[bold red]FAILED[/]",
          "not_verifiable": "[yellow]not verifiable[/]"}


@app.command("kill-switch")
def kill_switch(
    url: Annotated[str, typer.Option("--url", help="Base URL of the server.",
                                     show_default=False)],
    admin_key: Annotated[str, typer.Option("--admin-key", help="An admin key (flips the "
                                           "switches; the drill record is audited under its "
                                           "id).", show_default=False)],
    key: Annotated[str | None, typer.Option("--key", help="A user key for the probe requests "
                                            "(default: the admin key). Its tier decides which "
                                            "tools can be probed.", show_default=False)] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Corpus the retrieval probe "
                                               "asks (default: retrieval.default_corpus).",
                                               show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the drill record as JSON.")
                       ] = False,
) -> None:
    """Turn each kill switch off (reason "drill"), prove with real requests that the feature
    stops, turn it back on, and prove it is back.

    Switches: retrieval, tools, and tool:NAME for each configured tool. A switch that is
    already off is left alone. Every flip is audited by the server; the drill's summary is
    appended to the audit chain as drill.kill_switch. Switches are restored even when a
    check fails.
    """

    def log(check: Check) -> None:
        if not as_json:
            console.print(f"{check.target} {check.step}: {_STYLE[check.outcome]} "
                          f"({check.detail})", highlight=False, soft_wrap=True)

    drill = KillSwitchDrill(url, admin_key, key, corpus=corpus, log=log)
    try:
        result = drill.run()
        seq = drill.submit(result)
    except RunnerError as exc:
        fail(str(exc), code=2)
    finally:
        drill.close()
    if as_json:
        console.print_json(json.dumps({**result.plain(), "audit_seq": seq}))
    else:
        table = Table("switch", "ok", "failed", "not verifiable", title="kill-switch drill")
        for target in dict.fromkeys(c.target for c in result.checks):
            mine = [c.outcome for c in result.checks if c.target == target]
            table.add_row(target, str(mine.count("ok")), str(mine.count("failed")),
                          str(mine.count("not_verifiable")))
        console.print(table)
        verdict = "[green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
        console.print(f"drill {verdict}; audit record drill.kill_switch seq={seq}",
                      highlight=False)
    if not result.passed:
        err_console.print("error: the kill-switch drill failed; see the checks above",
                          highlight=False)
        raise typer.Exit(1)
