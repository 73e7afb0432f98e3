"""`warden advisory ...`: the policy advisor's rollout (docs/advisory.md).

status, promote, rollback, review, stats, export, refresh and activate work directly on the
configured store, like `warden switch` (every replica sees a change within a second). eval
and replay need the model: they ask a running server (--url, an admin --key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from warden.cli.common import ConfigOption, config_or_exit, console, database_or_exit, fail

if TYPE_CHECKING:
    from warden.config import WardenConfig
    from warden.policy.control import AdvisoryControl
    from warden.policy.remote import AdvisoryClient

CLI_ACTOR = "cli"
app = typer.Typer(help="Policy advisory: shadow -> advisory -> enforce per action type.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UrlOption = Annotated[str, typer.Option("--url", help="Base URL of a running server.")]
KeyOption = Annotated[str | None, typer.Option(
    "--key", help="An admin key (default: $WARDEN_ADMIN_KEY).", show_default=False)]


def _control(config: Path | None) -> tuple[AdvisoryControl, WardenConfig]:
    from warden.policy.factory import build_control
    from warden.store.audit import AuditLog

    cfg = config_or_exit(config)
    db = database_or_exit(cfg)
    return build_control(cfg, db, AuditLog(db)), cfg


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=1, default=str))


def _print(table: Table) -> None:
    # Piped output keeps full-width rows (rich would squeeze them to 80 columns).
    (console if console.is_terminal else Console(width=200, highlight=False)).print(table)


@app.command()
def status(as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Each action type's mode, risk tier and what its next promotion still needs."""
    control, _ = _control(config)
    report = control.status()
    if as_json:
        _emit(report)
        return
    table = Table("action", "risk", "mode", "since (UTC)", "next", "gate")
    for row in report["actions"]:
        gate = row["next"]
        verdict = ("refused: " + gate["refusal"]) if gate["refusal"] else \
            "[green]passes[/]" if gate["passed"] else "; ".join(
                c["detail"] for c in gate["checks"] if not c["passed"])
        table.add_row(row["action_type"], row["risk_tier"], row["mode"],
                      (row["since"] or "-")[:19], gate["to"] or "-", verdict)
    console.print(f"prompt variant: {report['prompt_variant']}")
    _print(table)


@app.command()
def promote(action_type: Annotated[str, typer.Argument(help="read, write, commit or deploy.")],
            config: ConfigOption = None) -> None:
    """Move one step up (shadow -> advisory -> enforce) if the gates pass; audited."""
    from warden.policy.control import PromotionRefused
    from warden.policy.store import AdvisoryConflict

    control, _ = _control(config)
    try:
        state, gate = control.promote(action_type, CLI_ACTOR)
    except PromotionRefused as exc:
        fail("\n  - ".join([f"promotion of {action_type} refused:", *exc.gate.reasons()]))
    except AdvisoryConflict as exc:
        fail(str(exc), code=2)
    console.print(f"{action_type}: {gate.from_mode.value} -> [bold]{state.mode.value}[/]")


@app.command()
def rollback(
    action_type: Annotated[str | None, typer.Argument(help="The action type to roll back.",
                                                      show_default=False)] = None,
    all_types: Annotated[bool, typer.Option("--all", help="Every action type.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why (audited as a "
                                               "hash).")] = None,
    config: ConfigOption = None,
) -> None:
    """Back to shadow at once: the current policy engine decides again (admin stays
    advisory). Audited."""
    from warden.config.advisory import ACTION_TYPES
    from warden.policy.store import AdvisoryConflict

    if (action_type is None) == (not all_types):
        fail("name one action type, or --all", code=2)
    control, _ = _control(config)
    try:
        changes = control.rollback(list(ACTION_TYPES) if all_types else [str(action_type)],
                                   CLI_ACTOR, reason)
    except AdvisoryConflict as exc:
        fail(str(exc), code=2)
    for change in changes:
        word = "->" if change["changed"] else "stays"
        console.print(f"{change['action_type']}: {change['from']} {word} {change['to']}"
                      if change["changed"] else f"{change['action_type']}: stays "
                      f"{change['to']}")


@app.command()
def review(  # noqa: PLR0917 -- typer maps each option to a parameter
    advisory_id: Annotated[str | None, typer.Argument(help="Decide this pending review "
                                                      "(with --decision).",
                                                      show_default=False)] = None,
    decision: Annotated[str | None, typer.Option("--decision", help="allow, deny or "
                                                 "require_attestation.")] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Why you decided so.")] = None,
    category: Annotated[str | None, typer.Option(
        "--category", help="For an override: false_positive (advisor too strict), "
        "false_negative (too permissive) or unclear; derived when left out.")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Only pending reviews.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Most rows listed.")] = 50,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """List the review queue, or decide one item. Overdue items resolve to the safe
    decision (advisory.review.timeout_decision) first."""
    from warden.policy.decision import Decision, OverrideCategory
    from warden.policy.store import AdvisoryConflict, AdvisoryNotFound

    control, _ = _control(config)
    if advisory_id is not None:
        if decision is None:
            fail("deciding a review needs --decision allow|deny|require_attestation", code=2)
        try:
            made = control.decide(advisory_id, CLI_ACTOR, Decision.parse(decision, "--decision"),
                                  notes, OverrideCategory(category) if category else None)
        except (AdvisoryNotFound, AdvisoryConflict, ValueError) as exc:
            fail(str(exc), code=2)
        _emit(made.plain()) if as_json else console.print(
            f"{advisory_id}: {made.human_decision}"
            + (f" (override: {made.category})" if made.override else " (agrees)"))
        return
    rows = control.reviews("pending" if pending else None, limit=limit)
    if as_json:
        _emit(rows)
        return
    table = Table("advisory", "action", "status", "advisor", "current", "human", "due (UTC)",
                  "reasoning")
    for row in rows:
        advisory = row["advisory"]
        table.add_row(row["advisory_id"], row["action_type"], row["status"],
                      advisory["decision"] or f"error ({advisory['error']})",
                      advisory["current_decision"], row["human_decision"] or "-",
                      row["due_at"][:19], (advisory["reasoning"] or "-")[:60])
    _print(table)


@app.command()
def stats(window: Annotated[str, typer.Option("--window", help="e.g. 7d, 2w, 24h; 'all' "
                                              "for everything.")] = "7d",
          as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Agreement (shadow), overrides (advisory), errors, latency and the decision
    distribution, per action type, with Wilson intervals; the distribution-shift alert."""
    from warden.policy.report import parse_window

    try:
        span = None if window == "all" else parse_window(window)
    except ValueError as exc:
        fail(str(exc), code=2)
    control, _ = _control(config)
    report = control.stats(span)
    if as_json:
        _emit(report)
        return
    table = Table("action", "n", "agreement [95% CI]", "override [95% CI]", "errors",
                  "p50/p95/p99 ms", "allow/attest/deny")
    for action, block in [("all", report["overall"]), *report["by_action"].items()]:
        dist = block["distribution"]
        table.add_row(action, str(block["decisions"]), _rate(block["agreement"]),
                      _rate(block["override_rate"]), _rate(block["error_rate"]),
                      "/".join("-" if v is None else f"{v:.0f}"
                               for v in block["latency_ms"].values()),
                      "/".join(f"{dist[d]:.0%}" for d in ("allow", "require_attestation",
                                                          "deny")))
    _print(table)
    shift = report["shift"]
    console.print(f"distribution shift: [bold]{shift['verdict']}[/] ({shift['reason']})")


def _rate(rate: dict[str, Any]) -> str:
    if rate["rate"] is None:
        return "unmeasured"
    return f"{rate['rate']:.1%} [{rate['low']:.1%}, {rate['high']:.1%}] n={rate['n']}"


def _client(url: str, key: str | None) -> AdvisoryClient:
    from warden.policy.remote import AdvisoryClient

    key = key or os.environ.get("WARDEN_ADMIN_KEY")
    if not key:
        fail("give an admin key: --key or $WARDEN_ADMIN_KEY", code=2)
    return AdvisoryClient(url, key)


@app.command("eval")
def evaluate(  # noqa: PLR0917 -- typer maps each option to a parameter
    suite: Annotated[Path | None, typer.Option("--suite", help="Suite JSONL (default: the "
                                               "shipped semantic suite).")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="Prompt variant (default: "
                                                "the active one).")] = None,
    url: UrlOption = "http://127.0.0.1:8080", key: KeyOption = None,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="Write the full report "
                                                  "(every case) here.")] = None,
    config: ConfigOption = None,
) -> None:
    """Pass rate on the semantic suite: the advisor alone, the hybrid (advisor + rules
    fail-safe) and the rules engine, per action type, with Wilson intervals."""
    from warden.policy.remote import RemoteError, run_suite
    from warden.policy.suite import load_suite, score

    cfg = config_or_exit(config)
    try:
        cases = load_suite(suite)
    except (OSError, ValueError) as exc:
        fail(str(exc), code=2)
    client = _client(url, key)
    try:
        with console.status("evaluating") as spinner:
            results = run_suite(client, cases, prompt_variant=variant, progress=lambda d, n:
                                spinner.update(f"evaluating {d}/{n}"))
    except RemoteError as exc:
        fail(str(exc))
    finally:
        client.close()
    advisory = cfg.advisory
    report = score(results, level=advisory.confidence,
                   risk_tiers={a: p.risk_tier for a, p in advisory.actions.items()},
                   high_risk=advisory.fail_safe_tiers)
    table = Table("action", "cases", "advisor", "hybrid", "rules", "errors")
    for action, block in [("all", report), *report["by_action"].items()]:
        table.add_row(action, str(block["cases"]), _rate(block["advisor"]),
                      _rate(block["hybrid"]), _rate(block["rules"]), str(block["errors"]))
    _print(table)
    wrong = report["wrong_allows_high_risk"]
    console.print(f"wrong allows on high-risk actions: advisor {wrong['advisor']}, "
                  f"hybrid {wrong['hybrid']}")
    if json_out is not None:
        json_out.write_text(json.dumps({**report, "cases": [r.plain() for r in results]},
                                       indent=1))
        console.print(f"report: {json_out}")


@app.command("replay")
def replay_cmd(
    history: Annotated[Path, typer.Argument(help="JSONL of {situation, decision}: what the "
                                            "current engine decided.")],
    record: Annotated[bool, typer.Option("--record", help="Send as live traffic "
                                         "(POST /v1/advisory) instead of offline.")] = False,
    url: UrlOption = "http://127.0.0.1:8080", key: KeyOption = None,
) -> None:
    """Replay historical decisions: the advisor's agreement with them, offline by default."""
    from warden.policy.remote import RemoteError, load_history, replay

    try:
        rows = load_history(history)
    except (OSError, ValueError) as exc:
        fail(str(exc), code=2)
    client = _client(url, key)
    try:
        with console.status("replaying") as spinner:
            report = replay(client, rows, record=record, progress=lambda d, n:
                            spinner.update(f"replaying {d}/{n}"))
            if record:
                report["server_shift"] = client.get("/admin/advisory/stats",
                                                    window="all")["shift"]
    except RemoteError as exc:
        fail(str(exc))
    finally:
        client.close()
    _emit(report)


@app.command()
def export(output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here "
                                                       "instead of stdout.")] = None,
           config: ConfigOption = None) -> None:
    """Reviewer decisions as JSONL (situation, advisor and human decision, match, notes)."""
    from warden.policy.feedback import export_lines

    control, _ = _control(config)
    lines = export_lines(control.reviewed())
    text = "".join(line + "\n" for line in lines)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    corrections = sum(1 for line in lines if not json.loads(line)["match"])
    console.print(f"wrote {len(lines)} reviews ({corrections} corrections) to {output}")


@app.command()
def refresh(name: Annotated[str | None, typer.Option("--name", help="The new variant's name "
                                                     "(default: <active>.rN).")] = None,
            config: ConfigOption = None) -> None:
    """Refresh the few-shot pool with reviewer corrections (needs advisory.min_corrections):
    a new prompt variant, not active until `warden advisory activate`."""
    from warden.policy import variants
    from warden.policy.factory import variants_dir
    from warden.policy.feedback import RefreshRefused
    from warden.policy.rules import load_rules
    from warden.policy.store import AdvisoryConflict

    control, cfg = _control(config)
    try:
        made = variants.refresh(control, load_rules(cfg.advisory.current_engine.rules_file),
                                variants_dir(cfg), name, CLI_ACTOR)
    except (RefreshRefused, AdvisoryConflict) as exc:
        fail(str(exc))
    _emit(made)


@app.command()
def activate(variant: Annotated[str, typer.Argument(help="A prompt variant name.")],
             config: ConfigOption = None) -> None:
    """Make a prompt variant active; every action type goes back to shadow (audited)."""
    from warden.policy import variants
    from warden.policy.factory import variants_dir
    from warden.policy.prompts import PromptError
    from warden.policy.rules import load_rules

    control, cfg = _control(config)
    try:
        _emit(variants.activate(control, load_rules(cfg.advisory.current_engine.rules_file),
                                variants_dir(cfg), variant, CLI_ACTOR))
    except PromptError as exc:
        fail(str(exc), code=2)
