"""`warden drill kill-switch`: practise the kill switches against a live server.

Every switch is reported passed, failed or unverifiable, with the reason. Exit codes: 0 every
switch passed; 1 a switch failed or could not be verified (not verified is not passed); 2 the
drill could not run (server unreachable, key refused).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from warden.cli.common import console, err_console, fail

if TYPE_CHECKING:
    from warden.redteam.drill import Check

app = typer.Typer(help="Operational drills against a running server (audited).",
                  no_args_is_help=True)

_STYLE = {"ok": "[green]ok[/]", "failed": "[bold red]FAILED[/]",
          "not_verifiable": "[yellow]not verifiable[/]"}
_VERDICT = {"passed": "[green]passed[/]", "failed": "[bold red]failed[/]",
            "unverifiable": "[yellow]unverifiable[/]"}


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

    Each switch is passed, failed, or unverifiable (e.g. the key may not use that tool); the
    drill passes only when every switch passed.
    """
    from warden.redteam.drill import KillSwitchDrill
    from warden.redteam.runner import RunnerError

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
    verdicts = result.switches
    if as_json:
        console.print_json(json.dumps({**result.report(), "audit_seq": seq}))
    else:
        table = Table("switch", "verdict", "reason", title="kill-switch drill")
        for v in verdicts:
            table.add_row(v.name, _VERDICT[v.verdict], v.reason)
        console.print(table)
        verdict = "[green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
        console.print(f"drill {verdict}; audit record drill.kill_switch seq={seq}",
                      highlight=False)
    if not result.passed:
        counts = {name: sum(v.verdict == name for v in verdicts)
                  for name in ("passed", "failed", "unverifiable")}
        err_console.print(f"error: the kill-switch drill did not pass: {counts['passed']} of "
                          f"{len(verdicts)} switches passed, {counts['failed']} failed, "
                          f"{counts['unverifiable']} could not be verified (see the reasons "
                          "above)", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command("rollback")
def rollback(
    url: Annotated[str, typer.Option("--url", envvar="WARDEN_URL", help="Base URL of the "
                                     "server.", show_default=False)],
    admin_key: Annotated[str, typer.Option("--admin-key", envvar="WARDEN_ADMIN_KEY",
                                           help="An admin key (rolls back, pins arms; the "
                                           "drill record is audited under its id).",
                                           show_default=False)],
    rollout: Annotated[str, typer.Option("--rollout", help="The rollout to drill.",
                                         show_default=False)],
    restore: Annotated[bool, typer.Option("--restore/--no-restore", help="Start the "
                                          "challenger again afterwards.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the drill record as JSON.")
                       ] = False,
) -> None:
    """Roll a live rollout back and prove every step: traffic to the champion within a
    second on this replica, pointers at the champion's versions, caches cleared, the
    incident, the audit record, and the champion's smoke rerun against the baseline.

    A rollout without a running challenger gets its configured one started first. The
    challenger is started again afterwards unless --no-restore (its canary clock restarts).
    Exit codes: 0 every step ok; 1 a step failed or could not be verified; 2 no drill.
    """
    from warden.evaluation.client import EndpointError, WardenClient
    from warden.rollout.admin_client import RolloutAdmin
    from warden.rollout.arms import RolloutError
    from warden.rollout.drill import Check as RollbackCheck
    from warden.rollout.drill import RollbackDrill

    def log(check: RollbackCheck) -> None:
        if not as_json:
            console.print(f"{rollout} {check.step}: {_STYLE[check.outcome]} ({check.detail})",
                          highlight=False, soft_wrap=True)

    admin, client = RolloutAdmin(url, admin_key), WardenClient(url, admin_key)
    drill = RollbackDrill(admin, client, admin_key, rollout, restore=restore, log=log)
    try:
        try:
            drill.run()
        finally:
            record = drill.record()
            seq = admin.drill(record)["seq"]
    except (EndpointError, RolloutError) as exc:
        fail(str(exc), code=2)
    finally:
        admin.close()
        client.close()
    if as_json:
        console.print_json(json.dumps({**record, "audit_seq": seq}))
    else:
        verdict = "[green]PASSED[/]" if drill.passed else "[bold red]FAILED[/]"
        console.print(f"rollback drill {verdict}; audit record drill.rollback seq={seq}",
                      highlight=False)
    if not drill.passed:
        raise typer.Exit(1)
