"""Runs red-team cases against a live server over HTTP (httpx), one case at a time.

Skips are explicit and carry a reason: a tool the server does not offer the user key
(discovered with GET /v1/tools), a case that needs --admin-key when none was given, or a
`skip_when` error code (e.g. no corpus to retrieve from). Nothing is skipped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from warden.redteam.cases import Case, Expect, Request
from warden.redteam.checks import (
    Observed,
    TemplateError,
    get_path,
    has_path,
    match,
    render,
    skip_reason,
)

Status = Literal["passed", "failed", "skipped", "known_gap"]
RATE_LIMIT_RETRIES = 3
MAX_RETRY_WAIT_S = 10.0


class RunnerError(Exception):
    """The run cannot go on (server unreachable, key refused): one line for the user."""


@dataclass
class StepRecord:
    name: str
    status_code: int | None
    request_id: str | None
    problems: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    id: str
    category: str
    description: str
    status: Status
    reason: str | None = None
    problems: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    note: str | None = None

    def plain(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "description": self.description,
                "status": self.status, "reason": self.reason, "problems": self.problems,
                "note": self.note,
                "steps": [{"name": s.name, "status_code": s.status_code,
                           "request_id": s.request_id, "problems": s.problems}
                          for s in self.steps]}


def expect_with(expect: Expect, variables: dict[str, Any]) -> Expect:
    """`expect` with ${variables} of earlier steps filled in (e.g. equals: "${line|next}")."""
    raw = expect.model_dump(by_alias=True, exclude_unset=True)
    rendered = render(raw, variables)
    return expect if rendered == raw else Expect.model_validate(rendered)


class Runner:
    def __init__(self, url: str, key: str, admin_key: str | None = None, *,
                 timeout: float = 120.0, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.admin_key = admin_key
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout)
        self.sleep = sleep
        self.tools: set[str] | None = None
        # Variables every case sees: ${model} is the server's first model (GET /v1/models).
        self.base_vars: dict[str, Any] = {}

    def close(self) -> None:
        self.client.close()

    # HTTP ------------------------------------------------------------------------------------
    def _headers(self, auth: str, extra: dict[str, str]) -> dict[str, str]:
        headers = dict(extra)
        secret = {"user": self.key, "admin": self.admin_key}.get(auth)
        if secret:
            headers.setdefault("authorization", f"Bearer {secret}")
        return headers

    def send(self, request: Request, variables: dict[str, Any] | None = None) -> Observed:
        body = render(request.json_body, variables or {})
        headers = self._headers(request.auth, render(request.headers, variables or {}))
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                response = self.client.request(request.method, request.path, headers=headers,
                                               json=body if request.method == "POST" else None)
            except httpx.TimeoutException as exc:
                raise RunnerError(f"{request.method} {self.url}{request.path} timed out "
                                  f"({type(exc).__name__}); is the server overloaded?") from None
            except httpx.TransportError as exc:
                raise RunnerError(f"cannot reach {self.url}: {exc or type(exc).__name__}") \
                    from None
            if response.status_code != 429 or attempt == RATE_LIMIT_RETRIES:
                break
            # A red-team run is a burst; a rate limit is not a finding, so wait as told.
            try:
                wait = float(response.headers.get("retry-after", "1"))
            except ValueError:
                wait = 1.0
            self.sleep(min(max(wait, 0.5), MAX_RETRY_WAIT_S))
        observed = Observed.from_text(response.status_code, response.text,
                                      response.headers.get("content-type", ""))
        observed.request_id = response.headers.get("x-request-id")
        return observed

    def discover_tools(self) -> set[str]:
        """The tools the user key may use (GET /v1/tools); refuses a bad key up front."""
        observed = self.send(Request(method="GET", path="/v1/tools"))
        if observed.status in (401, 403):
            raise RunnerError(f"the server refused --key ({observed.error.get('code')}): "
                              f"{observed.error.get('message')}")
        if observed.status != 200 or not isinstance(observed.body, dict):
            # No tool governance on this server: every case needing a tool is skipped.
            return set()
        names = {get_path(item, "function.name") for item in observed.body.get("data") or []}
        return {n for n in names if isinstance(n, str)}

    def discover_model(self) -> None:
        observed = self.send(Request(method="GET", path="/v1/models"))
        models = observed.body.get("data") if isinstance(observed.body, dict) else None
        if observed.status == 200 and models and isinstance(models[0], dict):
            self.base_vars["model"] = models[0].get("id")

    def check_admin_key(self) -> None:
        if not self.admin_key:
            return
        observed = self.send(Request(method="GET", path="/admin/switches", auth="admin"))
        if observed.status in (401, 403):
            raise RunnerError(f"the server refused --admin-key ({observed.error.get('code')}):"
                              f" {observed.error.get('message')}")

    def switches_off(self, settle_s: float = 0.0) -> list[dict[str, Any]] | None:
        """Switches turned off now (admin key only), to report what a run tripped.
        `settle_s`: wait first, so a trigger evaluating every second sees the whole run."""
        if not self.admin_key:
            return None
        if settle_s:
            self.sleep(settle_s)
        observed = self.send(Request(method="GET", path="/admin/switches", auth="admin"))
        if observed.status != 200 or not isinstance(observed.body, dict):
            return None
        return [{"name": s.get("name"), "on": s.get("on"), "actor": s.get("actor"),
                 "reason": s.get("reason"), "incident_id": s.get("incident_id")}
                for s in observed.body.get("data") or []
                if isinstance(s, dict) and not s.get("on", True)]

    # cases -----------------------------------------------------------------------------------
    def _skip(self, case: Case) -> str | None:
        if case.needs_admin and not self.admin_key:
            return "needs --admin-key"
        if case.requires.tools:
            if self.tools is None:
                self.tools = self.discover_tools()
            missing = [t for t in case.requires.tools if t not in self.tools]
            if missing:
                offered = ", ".join(sorted(self.tools)) or "none"
                return (f"tool(s) {', '.join(missing)} not configured for the user key "
                        f"(GET /v1/tools offers: {offered}); see the fixture registry in "
                        "docs/redteam.md")
        return None

    def run_case(self, case: Case) -> CaseResult:
        result = CaseResult(case.id, case.category, case.description, "passed")
        reason = self._skip(case)
        if reason:
            result.status, result.reason = "skipped", reason
            return result
        variables: dict[str, Any] = dict(self.base_vars)
        for step in case.all_steps():
            try:
                observed = self.send(step.request, variables)
                expect = expect_with(step.expect, variables)
            except TemplateError as exc:
                result.status, result.reason = "failed", f"step {step.name}: {exc}"
                result.problems.append(result.reason)
                return result
            record = StepRecord(step.name, observed.status, observed.request_id)
            result.steps.append(record)
            if case.skip_when is not None:
                why = skip_reason(case.skip_when.error_code, observed)
                if why:
                    result.status = "skipped"
                    result.reason = f"{case.skip_when.reason} (step {step.name}: {why})"
                    return result
            record.problems = match(expect, observed)
            for var, path in step.save.items():
                if has_path(observed.body, path):
                    variables[var] = get_path(observed.body, path)
                else:
                    record.problems.append(f"cannot save ${{{var}}}: json {path} missing")
            if record.problems:
                result.problems = [f"step {step.name}: {p}" for p in record.problems]
                break
        if result.problems:
            if case.known_gap:
                result.status, result.reason = "known_gap", case.known_gap
            else:
                result.status = "failed"
        elif case.known_gap:
            result.note = "known_gap no longer reproduces: remove 'known_gap' from the case"
        return result

    def run(self, cases: Iterable[Case],
            on_result: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
        results: list[CaseResult] = []
        for case in cases:
            outcome = self.run_case(case)
            results.append(outcome)
            if on_result is not None:
                on_result(outcome)
        return results
