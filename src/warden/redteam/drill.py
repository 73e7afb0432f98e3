"""The kill-switch drill: flip each switch off, prove the feature stops, restore, prove it
is back, and leave a summary in the audit chain.

Everything goes through the public admin API of a live server (so every flip is audited by
the server as `switch.flip`), and behaviour is proved with real requests:

    retrieval  POST /v1/generate with `retrieval`  -> off: retrieval.skipped == switched_off
    tools      POST /v1/tools/T/execute (dry run)  -> off: 503 tool_switched_off
    tool:T     the same on T

The probes never run a tool for real: they send `dry_run: true` with empty arguments, which
the gate refuses while the switch is off and the schema check (or a dry run) answers while
it is on. A switch that is already off when the drill starts is left alone (an incident or
an operator owns it) and reported "not_verifiable". Restoring happens in `finally`.

Each switch then gets one verdict (switch_verdicts): passed only when every step was seen
to work, failed when a step went wrong, unverifiable when the drill could not observe it
(with the reason). The drill passes only when every switch passed: a switch nobody could
verify is not a switch known to work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from warden.redteam.runner import RunnerError

Outcome = Literal["ok", "failed", "not_verifiable"]
Verdict = Literal["passed", "failed", "unverifiable"]
Probe = Literal["on", "off", "unknown"]
DRILL_REASON = "drill"
# A flip reaches every replica within one cache TTL (≤ 0.5 s) plus a store read.
PROPAGATION_S = 5.0
POLL_S = 0.25
# What a switch must show, in order, to pass: on, turned off, seen off, restored, seen on.
STEPS = ("baseline", "switch_off", "verify_off", "restore", "verify_restored")


@dataclass
class Check:
    target: str
    step: str
    outcome: Outcome
    detail: str = ""

    def plain(self) -> dict[str, str]:
        return {"target": self.target, "step": self.step, "outcome": self.outcome,
                "detail": self.detail[:300]}


@dataclass(frozen=True)
class SwitchVerdict:
    name: str
    verdict: Verdict
    reason: str

    def plain(self) -> dict[str, str]:
        return {"name": self.name, "verdict": self.verdict, "reason": self.reason[:300]}


def switch_verdicts(checks: list[Check]) -> list[SwitchVerdict]:
    """One verdict per switch, in drill order: failed if any step failed, unverifiable if a
    step could not be observed or never ran, passed only if all of STEPS were ok."""
    verdicts = []
    for name in dict.fromkeys(c.target for c in checks):
        mine = [c for c in checks if c.target == name]
        failed = next((c for c in mine if c.outcome == "failed"), None)
        unseen = next((c for c in mine if c.outcome == "not_verifiable"), None)
        ok = {c.step: c for c in mine if c.outcome == "ok"}
        missing = [step for step in STEPS if step not in ok]
        if failed is not None:
            verdicts.append(SwitchVerdict(name, "failed", f"{failed.step}: {failed.detail}"))
        elif unseen is not None:
            verdicts.append(SwitchVerdict(name, "unverifiable",
                                          f"{unseen.step}: {unseen.detail}"))
        elif missing:
            verdicts.append(SwitchVerdict(name, "unverifiable",
                                          f"never reached {', '.join(missing)}"))
        else:
            verdicts.append(SwitchVerdict(name, "passed",
                                          f"off: {ok['verify_off'].detail}; back on: "
                                          f"{ok['verify_restored'].detail}"))
    return verdicts


@dataclass
class DrillResult:
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[Check] = field(default_factory=list)
    audit_seq: int | None = None

    @property
    def switches(self) -> list[SwitchVerdict]:
        return switch_verdicts(self.checks)

    @property
    def passed(self) -> bool:
        """Every switch drilled passed (and there was at least one)."""
        verdicts = self.switches
        return bool(verdicts) and all(v.verdict == "passed" for v in verdicts)

    def plain(self) -> dict[str, Any]:
        """The record POST /admin/drills appends to the audit chain."""
        return {"kind": "kill_switch", "passed": self.passed,
                "started_at": self.started_at.isoformat(),
                "finished_at": (self.finished_at or datetime.now(UTC)).isoformat(),
                "checks": [c.plain() for c in self.checks],
                "switches": [v.plain() for v in self.switches]}

    def report(self) -> dict[str, Any]:
        """What `--json` prints: the audited record itself, verdicts included."""
        return self.plain()


class KillSwitchDrill:
    def __init__(self, url: str, admin_key: str, user_key: str | None = None, *,
                 corpus: str | None = None, timeout: float = 120.0,
                 client: httpx.Client | None = None,
                 log: Callable[[Check], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self.user_key = user_key or admin_key
        self.corpus = corpus
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout)
        self.log = log
        self.sleep = sleep
        self.tools: list[str] = []

    # HTTP ------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, key: str, body: Any = None) -> httpx.Response:
        try:
            return self.client.request(method, path, json=body,
                                       headers={"authorization": f"Bearer {key}"})
        except httpx.TransportError as exc:
            raise RunnerError(f"cannot reach {self.url}: {exc or type(exc).__name__}") \
                from None

    def switches(self) -> list[dict[str, Any]]:
        response = self._call("GET", "/admin/switches", self.admin_key)
        if response.status_code in (401, 403):
            raise RunnerError(f"the server refused --admin-key "
                              f"({_code(response)}): it must be an admin key")
        if response.status_code != 200:
            raise RunnerError(f"GET /admin/switches answered {response.status_code} "
                              f"({_code(response)})")
        return [s for s in response.json().get("data") or [] if isinstance(s, dict)]

    def flip(self, name: str, on: bool, reason: str | None) -> dict[str, Any]:
        response = self._call("POST", f"/admin/switches/{name}", self.admin_key,
                              {"on": on, "reason": reason})
        if response.status_code != 200:
            raise DrillStepError(f"POST /admin/switches/{name} answered "
                                 f"{response.status_code} ({_code(response)})")
        state: dict[str, Any] = response.json()
        return state

    def discover_tools(self) -> list[str]:
        response = self._call("GET", "/v1/tools", self.user_key)
        if response.status_code in (401, 403):
            raise RunnerError(f"the server refused --key ({_code(response)})")
        if response.status_code != 200:
            return []
        return [t["function"]["name"] for t in response.json().get("data") or []
                if isinstance(t, dict) and isinstance(t.get("function"), dict)]

    # probes ------------------------------------------------------------------------------------
    def probe(self, switch: str) -> tuple[Probe, str]:
        """What the server does right now for the feature behind `switch`."""
        if switch == "retrieval":
            return self._probe_retrieval()
        tool = self.tools[0] if switch == "tools" and self.tools else \
            switch.removeprefix("tool:")
        if switch == "tools" and not self.tools:
            return "unknown", "the key may use no tool (GET /v1/tools is empty)"
        if tool not in self.tools:
            return "unknown", f"tool '{tool}' is not allowed for the key's tier"
        return self._probe_tool(tool)

    def _probe_retrieval(self) -> tuple[Probe, str]:
        retrieval: dict[str, Any] = {"corpus": self.corpus} if self.corpus else {}
        response = self._call("POST", "/v1/generate", self.user_key, {
            "prompt": "What does this service document?", "max_tokens": 1,
            "temperature": 0, "retrieval": retrieval})
        code = _code(response)
        if response.status_code == 200:
            info = response.json().get("retrieval")
            if not isinstance(info, dict):
                return "unknown", "the answer has no 'retrieval' field (RAG not wired?)"
            if info.get("skipped") == "switched_off":
                return "off", "retrieval.skipped=switched_off"
            if info.get("skipped"):
                return "unknown", f"retrieval.skipped={info.get('skipped')}"
            return "on", f"retrieved from {info.get('corpus')} v{info.get('version')}"
        if code in ("corpus_not_found", "no_active_version"):
            # The switch is checked before the corpus: reaching this error means it let us by.
            return "on", f"switch passed the request through ({code}: no corpus to answer)"
        return "unknown", f"{response.status_code} {code}"

    def _probe_tool(self, tool: str) -> tuple[Probe, str]:
        response = self._call("POST", f"/v1/tools/{tool}/execute", self.user_key,
                              {"arguments": {}, "dry_run": True, "purpose": "kill-switch drill"})
        code = _code(response)
        if response.status_code == 503 and code == "tool_switched_off":
            return "off", f"{tool}: 503 tool_switched_off"
        if response.status_code in (200, 400, 422):
            return "on", f"{tool}: {response.status_code} {code or 'ok'} (not switched off)"
        return "unknown", f"{tool}: {response.status_code} {code}"

    def _await(self, switch: str, want: Probe) -> tuple[Probe, str]:
        deadline = PROPAGATION_S
        waited = 0.0
        while True:
            seen, detail = self.probe(switch)
            if seen in (want, "unknown") or waited >= deadline:
                return seen, detail
            self.sleep(POLL_S)
            waited += POLL_S

    # the drill ---------------------------------------------------------------------------------
    def _record(self, result: DrillResult, check: Check) -> None:
        result.checks.append(check)
        if self.log is not None:
            self.log(check)

    def run(self) -> DrillResult:
        result = DrillResult(started_at=datetime.now(UTC))
        states = {s["name"]: s for s in self.switches()}
        self.tools = self.discover_tools()
        order = ["retrieval", "tools", *sorted(n for n in states if n.startswith("tool:"))]
        for name in order:
            state = states.get(name)
            if state is None:
                continue
            self._drill_one(name, state, result)
        result.finished_at = datetime.now(UTC)
        return result

    def _drill_one(self, name: str, state: dict[str, Any], result: DrillResult) -> None:
        if not state.get("on", True):
            self._record(result, Check(name, "baseline", "not_verifiable",
                                       f"already off ({state.get('actor')}: "
                                       f"{state.get('reason')}); left untouched"))
            return
        if not state.get("effective_on", True):
            # tool:X is on but 'tools' is off: flipping it proves nothing.
            self._record(result, Check(name, "baseline", "not_verifiable",
                                       "effectively off because 'tools' is off; left untouched"))
            return
        before, detail = self.probe(name)
        self._record(result, Check(name, "baseline", "ok" if before == "on" else
                                   "not_verifiable" if before == "unknown" else "failed",
                                   f"on; {detail}"))
        flipped = False
        try:
            self.flip(name, False, DRILL_REASON)
            flipped = True
            self._record(result, Check(name, "switch_off", "ok", "turned off, reason 'drill'"))
            seen, detail = self._await(name, "off")
            self._record(result, Check(name, "verify_off", _outcome(seen, "off"), detail))
        except DrillStepError as exc:
            self._record(result, Check(name, "switch_off", "failed", str(exc)))
        finally:
            if flipped:
                self._restore(name, result)

    def _restore(self, name: str, result: DrillResult) -> None:
        try:
            self.flip(name, True, "drill: restore")
        except (DrillStepError, RunnerError) as exc:
            self._record(result, Check(name, "restore", "failed",
                                       f"{exc}; turn it on by hand: warden switch {name} on"))
            return
        self._record(result, Check(name, "restore", "ok", "turned back on"))
        seen, detail = self._await(name, "on")
        self._record(result, Check(name, "verify_restored", _outcome(seen, "on"), detail))

    def submit(self, result: DrillResult) -> int:
        """Append the summary to the audit chain (POST /admin/drills); its seq number."""
        response = self._call("POST", "/admin/drills", self.admin_key, result.plain())
        if response.status_code != 201:
            raise RunnerError(f"POST /admin/drills answered {response.status_code} "
                              f"({_code(response)}): the drill record was not audited")
        seq = int(response.json()["seq"])
        result.audit_seq = seq
        return seq

    def close(self) -> None:
        self.client.close()


class DrillStepError(Exception):
    pass


def _outcome(seen: Probe, want: Probe) -> Outcome:
    if seen == "unknown":
        return "not_verifiable"
    return "ok" if seen == want else "failed"


def _code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except ValueError:
        return None
    return error.get("code") if isinstance(error, dict) else None
