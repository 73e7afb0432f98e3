"""`warden rollout status | start | share | promote | rollback | report`.

Through a running server's admin API (--url, --admin-key; or WARDEN_URL, WARDEN_ADMIN_KEY),
so the server does every side effect itself (pointer flips, cache clears, incident, audit)
and every other replica follows within a second (docs/rollout.md).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from warden.cli.common import console, fail

if TYPE_CHECKING:
    from warden.rollout.admin_client import RolloutAdmin

app = typer.Typer(help="Rollouts: champion/challenger arms, A/B and shadow traffic, "
                       "promotion and rollback.", no_args_is_help=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="WARDEN_URL",
                                        help="Base URL of the server.")]
AdminKeyOption = Annotated[str, typer.Option("--admin-key", envvar="WARDEN_ADMIN_KEY",
                                             help="An admin key.", show_default=False)]
NameArgument = Annotated[str, typer.Argument(help="The rollout (its public model name).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DEFAULT_URL = "http://127.0.0.1:8080"


def _admin(url: str, key: str) -> RolloutAdmin:
    from warden.rollout.admin_client import RolloutAdmin

    return RolloutAdmin(url, key)


def _call(url: str, key: str, work: Any) -> Any:
    from warden.evaluation.client import EndpointError

    admin = _admin(url, key)
    try:
        return work(admin)
    except EndpointError as exc:
        fail(str(exc), code=1 if exc.status in {404, 409} else 2)
    finally:
        admin.close()


def _arm(arm: dict[str, Any] | None) -> str:
    if not arm:
        return "-"
    indexes = ", ".join(f"{c}@v{v}" for c, v in sorted(arm["indexes"].items())) or "pointer"
    return f"{arm['hash'][:12]} {arm['model']} prompt={arm['prompt'] or '-'} {indexes}"


def _traffic(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    p95 = summary.get("latency_p95_ms")
    return f"{summary['requests']} req, p95 {p95 if p95 is not None else '-'} ms"


def _print_state(rollout: dict[str, Any]) -> None:
    verdict = rollout.get("latest_verdict") or {}
    console.print(f"[bold]{rollout['name']}[/] {rollout['status']} mode={rollout['mode']} "
                  f"share={rollout['share']:.2f} generation={rollout['generation']}",
                  highlight=False)
    table = Table("arm", "recipe (hash, model, prompt, indexes)", "live traffic")
    traffic = rollout.get("traffic") or {}
    table.add_row("champion", _arm(rollout["champion"]), _traffic(traffic.get("champion")))
    table.add_row("challenger", _arm(rollout["challenger"]),
                  _traffic(traffic.get("challenger")))
    if rollout.get("previous"):
        table.add_row("previous", _arm(rollout["previous"]), "-")
    console.print(table)
    console.print(f"latest verdict: {verdict.get('verdict', '-')} (score "
                  f"{verdict.get('score', '-')}, action {verdict.get('action', '-')}); "
                  f"promotion: {rollout['eligibility']['reason']}", highlight=False,
                  soft_wrap=True)


@app.command("status")
def status(name: Annotated[str | None, typer.Argument(help="One rollout; omit for all.",
                                                      show_default=False)] = None,
           url: UrlOption = DEFAULT_URL, admin_key: AdminKeyOption = "",
           as_json: JsonOption = False) -> None:
    """Show each rollout: its arms, share, mode, live traffic and latest canary verdict."""
    rollouts = _call(url, admin_key, lambda a: [a.get(name)] if name else a.rollouts())
    if as_json:
        typer.echo(json.dumps(rollouts, indent=2))
        return
    if not rollouts:
        console.print("no rollouts (define them under rollouts.models in warden.yaml)")
    for rollout in rollouts:
        _print_state(rollout)


def _indexes(values: list[str]) -> dict[str, int]:
    out = {}
    for value in values:
        corpus, _, version = value.partition("=")
        if not corpus or not version.isdigit():
            fail(f"--index {value!r}: write CORPUS=VERSION, e.g. --index pydocs=7", code=2)
        out[corpus] = int(version)
    return out


@app.command("start")
def start(  # noqa: PLR0917 -- typer maps each option to a parameter
    name: NameArgument,
    model: Annotated[str | None, typer.Option("--model", help="The challenger's model entry "
                                              "(default: the champion's).")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="A rollouts.prompts name.")
                      ] = None,
    index: Annotated[list[str] | None, typer.Option("--index", help="CORPUS=VERSION; "
                                                    "repeat for more corpora.")] = None,
    share: Annotated[float | None, typer.Option("--share", min=0, max=1, help="Challenger "
                                                "share (ab) or shadow copy rate.")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="ab or shadow.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (audited).")] = None,
    url: UrlOption = DEFAULT_URL, admin_key: AdminKeyOption = "", as_json: JsonOption = False,
) -> None:
    """Put a challenger live: the champion with a different model, prompt or index versions
    (none given: the challenger configured in warden.yaml). The champion keeps the index
    versions it serves now."""
    if mode not in (None, "ab", "shadow"):
        fail("--mode must be ab or shadow", code=2)
    challenger = None
    if model or prompt or index:
        challenger = {"model": model, "prompt": prompt, "indexes": _indexes(index or [])}
    rollout = _call(url, admin_key, lambda a: a.start(name, challenger=challenger, share=share,
                                                      mode=mode, reason=reason))
    if as_json:
        typer.echo(json.dumps(rollout, indent=2))
        return
    _print_state(rollout)


@app.command("share")
def set_share(name: NameArgument,
              share: Annotated[float, typer.Argument(min=0, max=1, help="0..1")],
              url: UrlOption = DEFAULT_URL, admin_key: AdminKeyOption = "") -> None:
    """Change the challenger's share (keys already on the challenger stay there when it
    grows)."""
    _print_state(_call(url, admin_key, lambda a: a.share(name, share)))


def _steps(result: dict[str, Any]) -> None:
    for step in result.get("steps", []):
        detail = step["detail"]
        if isinstance(detail, dict) and step["step"] == "caches":
            detail = ", ".join(f"{k}: {v['outcome']}" for k, v in detail.items())
        console.print(f"  {step['step']}: {step['outcome']} {detail}", highlight=False,
                      soft_wrap=True)


@app.command("promote")
def promote(  # noqa: PLR0917 -- typer maps each option to a parameter
            name: NameArgument,
            reason: Annotated[str | None, typer.Option("--reason", help="Why (audited).")
                              ] = None,
            force: Annotated[bool, typer.Option("--force", help="Promote although the canary "
                                                "has not passed long enough (audited).")
                             ] = False,
            url: UrlOption = DEFAULT_URL, admin_key: AdminKeyOption = "",
            as_json: JsonOption = False) -> None:
    """Make the challenger the champion (its index versions become the active pointers);
    the old champion is kept for an instant rollback."""
    result = _call(url, admin_key, lambda a: a.promote(name, reason=reason, force=force))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console.print(f"promoted: champion is now {_arm(result['champion'])}", highlight=False)
    _steps(result)


@app.command("rollback")
def rollback(name: NameArgument,
             reason: Annotated[str, typer.Option("--reason", help="Why (audited, and the "
                                                 "incident's summary).", show_default=False)],
             url: UrlOption = DEFAULT_URL, admin_key: AdminKeyOption = "",
             as_json: JsonOption = False) -> None:
    """Send 100% to the champion (or, after a promotion, bring the previous champion back):
    pointers back, caches cleared, an incident opened, audited."""
    result = _call(url, admin_key, lambda a: a.rollback(name, reason=reason))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    console.print(f"rolled back: champion {_arm(result['champion'])}; incident "
                  f"{result.get('incident_id')}", highlight=False, soft_wrap=True)
    _steps(result)
    if not result.get("ok", True):
        raise typer.Exit(1)


@app.command("report")
def report(name: NameArgument, limit: Annotated[int, typer.Option("--limit", min=1,
                                                                  help="Verdicts shown.")] = 20,
           url: UrlOption = DEFAULT_URL, admin_key: AdminKeyOption = "",
           as_json: JsonOption = False) -> None:
    """The rollout's state, its canary verdicts with their evidence, and its history."""
    rollout, verdicts = _call(url, admin_key, lambda a: (
        a.get(name), a.verdicts(name, limit=limit, evidence=as_json)))
    if as_json:
        typer.echo(json.dumps({"rollout": rollout, "verdicts": verdicts}, indent=2))
        return
    _print_state(rollout)
    table = Table("id", "at (UTC)", "verdict", "score", "action", "challenger")
    for v in verdicts:
        table.add_row(str(v["id"]), v["at"][:19].replace("T", " "), v["verdict"],
                      "-" if v["score"] is None else f"{v['score']:.1f}", v["action"],
                      (v["challenger_hash"] or "-")[:12])
    console.print(table)
    events = Table("event", "at (UTC)", "by", "detail")
    for e in rollout.get("events", []):
        events.add_row(e["kind"], e["at"][:19].replace("T", " "), e["actor"],
                       json.dumps(e["detail"])[:80])
    console.print(events)
