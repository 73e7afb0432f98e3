"""Suites: which items run and which extra checks go with them.

- smoke (nightly, fast): ops/health (the health gates), DB workflows through the CLI on the
  server's own store (create a key, see the server accept it, revoke it, see it refused;
  audit verify; backup create + verify), a small RAG QA set (2 dev items per domain, 12 in
  all), meta-ops (the scorers on inputs with known answers, so a broken scorer fails the
  suite) and negatives (bad requests get the right 4xx).
- full (weekly): the whole test split plus triage (worst items, per-domain breakdown,
  failure classes) and config nudges searched on the dev split only (nudges.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.evaluation.client import EndpointError, HttpEndpoint, WardenClient
from warden.evaluation.health import Status
from warden.evaluation.local_store import LocalStore

REPO_FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "data" / "evaluation"
REVOKE_DEADLINE_S = 3.0


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    split: str | None
    per_domain: int | None = None
    limit: int | None = None
    checks: bool = False  # DB workflows, meta-ops, negatives
    triage: bool = False  # per-domain breakdown, failure classes, dev-split nudges


SUITES = {"smoke": SuiteSpec("smoke", "dev", per_domain=2, limit=12, checks=True),
          "full": SuiteSpec("full", "test", triage=True)}


@dataclass(frozen=True)
class SuiteCheck:
    group: str
    name: str
    status: Status
    detail: str

    def plain(self) -> dict[str, Any]:
        return {"group": self.group, "name": self.name, "status": str(self.status),
                "detail": self.detail}


def _check(group: str, name: str, ok: bool, detail: str) -> SuiteCheck:
    return SuiteCheck(group, name, Status.PASS if ok else Status.FAIL, detail)


# negatives ---------------------------------------------------------------------------------
def _expect(name: str, send: Callable[[], Any], status: int, code: str, *,
            param: str | None = None, group: str = "negatives") -> SuiteCheck:
    try:
        response = send()
    except EndpointError as exc:
        return _check(group, name, False, str(exc))
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    got = f"{response.status_code} {error.get('code')}"
    ok = response.status_code == status and error.get("code") == code and \
        (param is None or error.get("param") == param)
    return _check(group, name, ok, f"expected {status} {code}, got {got}")


def negatives(client: WardenClient, model: str, corpus: str | None) -> list[SuiteCheck]:
    chat = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    http = client.http
    checks = [
        _expect("400 unknown field", lambda: http.send(
            "POST", "/v1/chat/completions", json={**chat, "temprature": 1}), 400,
            "invalid_value", param="temprature"),
        _expect("401 no key", lambda: http.send("GET", "/v1/models", auth=False),
                401, "missing_api_key"),
        _expect("404 unknown model", lambda: http.send(
            "POST", "/v1/chat/completions", json={**chat, "model": "no-such-model-eval"}),
            404, "model_not_found"),
    ]
    bad = HttpEndpoint(client.url, "wk_000000000000_not-a-real-secret")
    try:
        checks.append(_expect("401 unknown key",
                              lambda: bad.send("GET", "/v1/models"), 401, "invalid_api_key"))
    finally:
        bad.close()
    if corpus is not None:
        checks.append(_expect("404 unknown corpus", lambda: http.send(
            "POST", "/v1/chat/completions",
            json={**chat, "retrieval": {"corpus": "no-such-corpus-eval"}}), 404,
            "corpus_not_found", param="retrieval.corpus"))
    return checks


# meta-ops: the scorers on known answers ----------------------------------------------------
# One query, hand-computed (see tests/unit/evaluation/test_eval_suites.py for the working).
KNOWN_CASE = {"results": [{"query_id": "known", "answer2response": ["Neutral", "Entailment"],
                           "response2answer": ["Entailment", "Contradiction"],
                           "retrieved2response": [["Entailment", "Neutral"],
                                                  ["Neutral", "Neutral"]],
                           "retrieved2answer": [["Neutral", "Entailment"],
                                                ["Neutral", "Neutral"]]}]}
KNOWN_FIGURES = {"precision": 50.0, "recall": 50.0, "f1": 50.0, "claim_recall": 50.0,
                 "context_precision": 50.0, "context_utilization": 100.0,
                 "noise_sensitivity_in_relevant": 0.0, "noise_sensitivity_in_irrelevant": 50.0,
                 "hallucination": 0.0, "self_knowledge": 50.0, "faithfulness": 50.0}


def _figures(data: Any) -> dict[str, float | None]:
    from warden.evaluation.ragchecker import score_queries
    from warden.evaluation.ragchecker_input import parse_checking_output

    grouped = score_queries(parse_checking_output(data)).grouped()
    return {name: value for group in grouped.values() for name, value in group.items()}


def _differences(got: dict[str, float | None], expected: dict[str, Any]) -> list[str]:
    return [f"{name} {got.get(name)} != {value}" for name, value in expected.items()
            if got.get(name) != value]


def meta_ops(fixtures: Path = REPO_FIXTURES) -> list[SuiteCheck]:
    from warden.evaluation.answer_metrics import exact_match, token_f1
    from warden.evaluation.gates import Verdict, evaluate_gates, parse_gates
    from warden.evaluation.metric import Metric

    checks = []
    wrong = _differences(_figures(KNOWN_CASE), KNOWN_FIGURES)
    checks.append(_check("meta_ops", "ragchecker hand-computed case", not wrong,
                         "; ".join(wrong) or "11 metrics as computed by hand"))
    example = fixtures / "ragchecker_example_checking_outputs.json"
    expected_file = fixtures / "ragchecker_example_expected.json"
    if example.is_file() and expected_file.is_file():
        expected = json.loads(expected_file.read_text(encoding="utf-8"))
        flat = {n: v for g in ("overall", "retriever", "generator") for n, v in expected[g].items()}
        wrong = _differences(_figures(json.loads(example.read_text(encoding="utf-8"))), flat)
        checks.append(_check("meta_ops", "ragchecker published example", not wrong,
                             "; ".join(wrong) or "equals RAGChecker's published figures"))
    else:
        checks.append(SuiteCheck("meta_ops", "ragchecker published example", Status.SKIP,
                                 f"fixture not found under {fixtures} (an installed package "
                                 "ships without tests/)"))
    answers = (token_f1("The cat sat.", ["a cat sat"]), exact_match("The Cat sat!", ["cat sat"]),
               token_f1("dog", ["cat"]))
    checks.append(_check("meta_ops", "token F1 / exact match", answers == (1.0, 1.0, 0.0),
                         f"got {answers}, expected (1.0, 1.0, 0.0)"))
    gates = parse_gates({"recall_min": 0.5})
    verdicts = tuple(str(evaluate_gates(gates, {"recall": Metric.measured(
        "recall", sum(items) / len(items), items)}).results[0].verdict)
        for items in ([1.0] * 30, [0.0] * 30, [0.0, 1.0] * 15))
    want = (str(Verdict.PASS), str(Verdict.FAIL), str(Verdict.INCONCLUSIVE))
    checks.append(_check("meta_ops", "gate verdicts", verdicts == want,
                         f"got {verdicts}, expected {want}"))
    return checks


# DB workflows through the CLI on the server's store ----------------------------------------
def _run(local: LocalStore, name: str, *args: str, secret_stdout: bool = False
         ) -> tuple[SuiteCheck, str, str]:
    """Run `warden ARGS`; the check's detail is the last line of its output, never the
    stdout of a command that prints a secret (keys create prints the key there)."""
    done = local.cli(*args)
    first, second = (done.stdout, done.stderr) if done.returncode == 0 else \
        (done.stderr, done.stdout)
    if secret_stdout:
        first, second = done.stderr, ""
    detail = (first.strip().splitlines() or second.strip().splitlines() or [""])[-1]
    return (_check("db_workflows", name, done.returncode == 0,
                   f"`warden {' '.join(args)}` exited {done.returncode}: {detail[:160]}"),
            done.stdout, done.stderr)


def _status_with(url: str, key: str) -> int:
    with HttpEndpoint(url, key, retries=0) as http:
        return http.send("GET", "/v1/models").status_code


def db_workflows(local: LocalStore | str, url: str) -> list[SuiteCheck]:
    names = ("keys create", "server accepts the new key", "keys revoke",
             "server refuses the revoked key", "audit verify", "backup create + verify")
    if isinstance(local, str):
        return [SuiteCheck("db_workflows", n, Status.SKIP, local) for n in names]
    checks = []
    created, out, err = _run(local, "keys create", "keys", "create", "--name",
                             f"eval-smoke-{int(time.time())}", secret_stdout=True)
    checks.append(created)
    match = re.search(r"key id (\w+)", err)
    secret = out.strip().splitlines()[-1] if out.strip() else ""
    if created.status is Status.PASS and match and secret:
        status = _status_with(url, secret)
        checks.append(_check("db_workflows", names[1], status == 200, f"GET /v1/models -> "
                             f"{status}"))
        revoked, _, _ = _run(local, "keys revoke", "keys", "revoke", match.group(1))
        checks.append(revoked)
        deadline, status = time.monotonic() + REVOKE_DEADLINE_S, 200
        while time.monotonic() < deadline and status != 401:
            time.sleep(0.25)
            status = _status_with(url, secret)
        checks.append(_check("db_workflows", names[3], status == 401,
                             f"GET /v1/models -> {status} within {REVOKE_DEADLINE_S:g} s"))
    else:
        checks += [SuiteCheck("db_workflows", n, Status.SKIP, "no key was created")
                   for n in names[1:4]]
    checks.append(_run(local, "audit verify", "audit", "verify")[0])
    backup, out, _ = _run(local, "backup create", "backup", "create", "--no-index-files",
                          "--description", "eval smoke")
    if backup.status is Status.PASS and out.strip():
        verified = _run(local, "backup verify", "backup", "verify",
                        out.strip().splitlines()[-1])[0]
        checks.append(SuiteCheck("db_workflows", names[5], verified.status, verified.detail))
    else:
        checks.append(SuiteCheck("db_workflows", names[5], backup.status, backup.detail))
    return checks
