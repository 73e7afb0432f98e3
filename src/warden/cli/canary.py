"""`warden canary run`: analyse a rollout's challenger against its champion every interval,
roll back automatically when the canary fails (docs/rollout.md).

Exit codes: 0 the canary passed, is still running, or was promoted; 1 it failed or was rolled
back (or the rollback did not verify); 2 it could not run (server unreachable, key refused,
bad options).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from warden.cli.common import console, err_console, fail

app = typer.Typer(help="Canary analysis of a rollout, with automatic rollback.",
                  no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def parse_duration(text: str, option: str) -> float:
    """'48h', '10m', '30s', '2d' or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        fail(f"{option} {text!r}: write a number with s, m, h or d (e.g. 48h, 10m)", code=2)
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@app.callback()
def canary() -> None:
    """A group, so `warden canary run` parses as written."""


@app.command("run")
def run(  # noqa: PLR0917 -- typer maps each option to a parameter
    url: Annotated[str, typer.Option("--url", envvar="WARDEN_URL",
                                     help="Base URL of the server.", show_default=False)],
    admin_key: Annotated[str, typer.Option("--admin-key", envvar="WARDEN_ADMIN_KEY",
                                           help="An admin key (pins arms, posts verdicts, "
                                           "rolls back).", show_default=False)],
    rollout: Annotated[str, typer.Option("--rollout", help="The rollout to analyse.",
                                         show_default=False)],
    baseline: Annotated[Path | None, typer.Option("--baseline", help="A `warden eval run` "
                                                  "output directory (results.jsonl): the "
                                                  "challenger is compared with it too, and "
                                                  "a rollback's smoke rerun must match it.")
                        ] = None,
    duration: Annotated[str, typer.Option("--duration", help="How long to keep analysing.")
                        ] = "48h",
    interval: Annotated[str | None, typer.Option("--interval", help="Between analyses "
                                                 "(default: the rollout's canary.interval_s).")
                        ] = None,
    once: Annotated[bool, typer.Option("--once", help="One analysis, then exit.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Where smoke results and verdicts "
                                             "go (default outbox/canary/<rollout>-<stamp>).")
                   ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every interval's outcome as "
                                          "JSON.")] = False,
) -> None:
    """Every interval: the smoke eval on both arms (same questions), live latency and rates
    per arm, the challenger's index facts; a verdict (pass, marginal, fail, inconclusive)
    judged on intervals, stored, audited and on /metrics; rollback when the failure budget
    is spent (auto_rollback), promotion when it has passed long enough (auto_promote)."""
    from warden.evaluation.client import EndpointError, WardenClient
    from warden.rollout.admin_client import RolloutAdmin
    from warden.rollout.arms import RolloutError
    from warden.rollout.canary_runner import CanaryRunner
    from warden.rollout.smoke import load_run

    seconds = parse_duration(duration, "--duration")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out or Path("outbox") / "canary" / f"{rollout}-{stamp}"
    try:
        reference = load_run(baseline) if baseline is not None else None
    except RolloutError as exc:
        fail(str(exc), code=2)
    admin, client = RolloutAdmin(url, admin_key), WardenClient(url, admin_key)
    runner = CanaryRunner(admin, client, rollout, admin_key=admin_key, out=target,
                          baseline=reference,
                          log=(lambda m: None) if as_json else
                          (lambda m: console.print(m, highlight=False, soft_wrap=True)))
    try:
        state = admin.get(rollout)
        every = parse_duration(interval, "--interval") if interval else \
            float((state.get("canary") or {}).get("interval_s", 600))
        outcomes = [runner.run_once()] if once else runner.run(duration_s=seconds,
                                                               interval_s=every)
    except (EndpointError, RolloutError) as exc:
        fail(str(exc), code=2)
    finally:
        admin.close()
        client.close()
    last = outcomes[-1]
    if as_json:
        typer.echo(json.dumps([o.plain() for o in outcomes], indent=2))
    else:
        console.print(f"canary {rollout}: {last.verdict} -> {last.action} ({last.reason}); "
                      f"results in {target}", highlight=False, soft_wrap=True)
    if last.rolled_back:
        verified = bool((last.verification or {}).get("matches_baseline"))
        incident = (last.rollback or {}).get("incident_id")
        rerun = "matches" if verified else "does NOT match"
        err_console.print(f"rolled back; the smoke rerun {rerun} the baseline; incident "
                          f"{incident}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if last.verdict in {"fail", "error"}:
        raise typer.Exit(1 if last.verdict == "fail" else 2)
