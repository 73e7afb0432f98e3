"""Suite checks: the meta-ops catch a broken scorer, negatives expect the right 4xx, DB
workflows are skipped with the reason when the store is not local; suite item selection.

The hand-computed meta-ops case (suites.KNOWN_CASE), one query, chunks 0 and 1:
  a2r = [N, E] -> precision 1/2; r2a = [E, C] -> recall 1/2; f1 = 1/2.
  ret2ans rows [N, E], [N, N]: claim 0 is covered -> claim_recall 1/2; only chunk 1 entails
  an answer claim -> context_precision 1/2 and chunk 1 is the relevant one.
  context_utilization: covered claims {0}, of which the response states {0} -> 1.
  ret2resp rows [E, N], [N, N]: response claim 0 is entailed only by chunk 0 (irrelevant)
  and is wrong (a2r N) -> noise_sensitivity_in_irrelevant 1/2, in_relevant 0.
  Claim 1 is entailed by no chunk and is right -> self_knowledge 1/2, hallucination 0;
  faithfulness 1/2.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from warden.evaluation import ragchecker, suites
from warden.evaluation.client import WardenClient
from warden.evaluation.dataset import SHIPPED_DATASET, load_dataset, select_items
from warden.evaluation.health import Status
from warden.evaluation.suites import SUITES, db_workflows, meta_ops, negatives

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "evaluation"


def test_meta_ops_pass_on_the_real_scorers() -> None:
    checks = meta_ops(FIXTURES)
    assert [c.status for c in checks] == [Status.PASS] * 4, [c.detail for c in checks]
    assert checks[1].name == "ragchecker published example"


def test_meta_ops_fail_when_a_scorer_is_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ragchecker, "faithfulness", lambda matrix: 0.0)
    checks = {c.name: c for c in meta_ops(FIXTURES)}
    assert checks["ragchecker hand-computed case"].status is Status.FAIL
    assert "faithfulness 0.0 != 50.0" in checks["ragchecker hand-computed case"].detail
    assert checks["ragchecker published example"].status is Status.FAIL


def test_meta_ops_skip_the_published_example_when_it_is_absent(tmp_path: Path) -> None:
    checks = {c.name: c for c in meta_ops(tmp_path)}
    assert checks["ragchecker published example"].status is Status.SKIP


def test_negatives_expect_the_right_status_and_code() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") is None:
            return httpx.Response(401, json={"error": {"code": "missing_api_key"}})
        if "not-a-real" in request.headers["authorization"]:
            return httpx.Response(401, json={"error": {"code": "invalid_api_key"}})
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        if "temprature" in body:
            return httpx.Response(400, json={"error": {"code": "invalid_value",
                                                       "param": "temprature"}})
        if body.get("model") == "no-such-model-eval":
            return httpx.Response(404, json={"error": {"code": "model_not_found"}})
        # a server that ignores unknown corpora: the check must catch it
        return httpx.Response(200, json={"choices": []})

    transport = httpx.MockTransport(server)
    real = suites.HttpEndpoint

    def endpoint(url: str, key: str | None, **kwargs: Any) -> Any:
        return real(url, key, transport=transport, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suites, "HttpEndpoint", endpoint)
        with WardenClient("http://w", "wk_good", transport=transport) as client:
            checks = {c.name: c for c in negatives(client, "m", "docs")}
    assert all(checks[n].status is Status.PASS for n in
               ("400 unknown field", "401 no key", "404 unknown model", "401 unknown key"))
    assert checks["404 unknown corpus"].status is Status.FAIL
    assert "got 200" in checks["404 unknown corpus"].detail


def test_db_workflows_skip_with_the_reason_when_the_store_is_remote() -> None:
    checks = db_workflows("the server is remote", "http://w")
    assert len(checks) == 6 and all(c.status is Status.SKIP for c in checks)
    assert checks[0].detail == "the server is remote"


def test_smoke_runs_two_dev_items_per_domain() -> None:
    spec = SUITES["smoke"]
    items = select_items(load_dataset(SHIPPED_DATASET).items, split=spec.split,
                         per_domain=spec.per_domain, limit=spec.limit)
    assert len(items) == 12 and {i.split for i in items} == {"dev"}
    assert len({i.domain for i in items}) == 6
    assert SUITES["full"].split == "test" and SUITES["full"].triage


class FakeStore:
    """Answers the CLI like a healthy store would; records the commands."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.commands.append(args)
        outputs = {"create": ("wk_abc123_TOPSECRET\n", "# key id abc123 (name=x)\n"),
                   "revoke": ("revoked abc123\n", ""), "verify": ("ok: intact\n", "")}
        if args[:2] == ("backup", "create"):
            return subprocess.CompletedProcess(args, 0, "backup bk_1: 1 versions\nbk_1\n", "")
        stdout, stderr = outputs.get(args[1], ("", ""))
        return subprocess.CompletedProcess(args, 0, stdout, stderr)


def test_db_workflows_run_the_cli_and_never_show_the_new_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    statuses = iter([200, 200, 401])
    monkeypatch.setattr(suites, "_status_with", lambda url, key: next(statuses))
    monkeypatch.setattr(suites.time, "sleep", lambda s: None)
    store = FakeStore()
    checks = db_workflows(store, "http://w")  # type: ignore[arg-type]
    assert [c.status for c in checks] == [Status.PASS] * 6, [c.detail for c in checks]
    assert all("TOPSECRET" not in c.detail for c in checks)
    assert ("keys", "revoke", "abc123") in store.commands
    assert ("backup", "verify", "bk_1") in store.commands
