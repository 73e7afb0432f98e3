"""Rollouts against a real server (SmolLM2, the real MiniLM, SQLite) and a real corpus: the
pydocs documents that hold the answers to the first 6 dev questions of the shipped dataset,
plus two distractors.

- shadow: the caller gets the champion's answer only, and its quota is charged for its own
  request only, while the challenger's copy runs and is recorded;
- a degraded candidate index (the gold documents removed) fails the canary, which rolls it
  back automatically: traffic, pointer, caches, incident, audit, and the smoke rerun checked
  against the baseline;
- a good candidate (the same documents re-ingested) passes and is promoted automatically,
  and an instant rollback brings the previous champion back.

Sizes are small on purpose (6 smoke questions, 6 live requests per arm, min_samples 6): the
statistics are the same at 50, the run time is not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.warden_server import WARDEN, WardenServer
from warden.evaluation.dataset import SHIPPED_DATASET, load_dataset, select_items
from warden.rollout.assignment import assign

pytestmark = pytest.mark.integration

PYDOCS = SHIPPED_DATASET.parent / "pydocs"
CORPUS = "pydocs"
DISTRACTORS = ("enum", "fnmatch")
TIERS = {"default": {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
                     "max_tokens": 512, "max_concurrent": 64},
         "metered": {"rpm": 1000, "tpm": 100_000, "tokens_per_day": 1_000_000,
                     "max_tokens": 64, "max_concurrent": 8}}
CANARY = {"smoke_items": 6, "smoke_max_tokens": 8, "smoke_k": 2, "min_samples": 6,
          "duration_s": 0.001, "auto_promote": True,  # 48 h and off by default
          "kpis": {"oracle_retrieval_hit_prefilter": {"critical": True},
                   # SmolLM2 seldom writes a [n] citation in 8 tokens: nothing to measure.
                   "precision": {"enabled": False},
                   # pydocs docstrings repeat little: 2% of chunks, below the go-live 10%.
                   "dedup_rate": {"low": 0.0}}}
CONFIG = {
    "tiers": TIERS,
    "retrieval": {"default_k": 2, "context": {"max_tokens": 256}},
    "rollouts": {
        "prompts": {"terse": {"system": "Reply with one word only."}},
        "models": {
            "docs": {"champion": {"model": "smollm2-135m-instruct"}, "share": 0.5,
                     "canary": CANARY},
            "assistant": {"champion": {"model": "smollm2-135m-instruct"},
                          "challenger": {"model": "smollm2-135m-instruct", "prompt": "terse"},
                          "share": 1.0, "mode": "shadow",
                          "canary": {"smoke_items": 4, "smoke_max_tokens": 4, "smoke_k": 2,
                                     "min_samples": 4}}}}}


def gold_modules() -> list[str]:
    items = select_items(load_dataset(SHIPPED_DATASET).items, split="dev",
                         limit=CANARY["smoke_items"])  # type: ignore[arg-type]
    return sorted({doc.split("/")[-1].removesuffix(".md") for i in items
                   for doc in i.gold_doc_ids})


def corpus_dir(root: Path, modules: list[str]) -> Path:
    target = root / "pydocs"  # document ids end in pydocs/<module>.md, like the gold ids
    target.mkdir(parents=True)
    for module in modules:
        shutil.copy(PYDOCS / f"{module}.md", target / f"{module}.md")
    return target


@dataclass
class Rig:
    server: WardenServer
    admin_key: str
    sides: dict[str, str]  # arm -> a user key the "docs" rollout assigns to it
    v1: int

    @property
    def url(self) -> str:
        return self.server.base_url

    def http(self, key: str | None = None) -> httpx.Client:
        return self.server.client(key or self.admin_key, timeout=300)

    def get(self, path: str) -> dict[str, Any]:
        with self.http() as http:
            response = http.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def ingest(self, modules: list[str], name: str) -> int:
        """A new version of the corpus, not activated (in-process, on the server's store)."""
        from warden.config.retrieval import RetrievalConfig
        from warden.retrieval.service import Retrieval
        from warden.store.audit import AuditLog
        from warden.store.db import open_database

        db = open_database(f"sqlite:///{self.server.workdir}/warden.db")
        try:
            config = RetrievalConfig(data_dir=str(self.server.workdir / "data"),
                                     **CONFIG["retrieval"])  # type: ignore[arg-type]
            source = corpus_dir(self.server.workdir / name, modules)
            report = Retrieval(db, config, audit=AuditLog(db)).ingest(
                [source], corpus=CORPUS, activate=False, actor="test")
            return report.version
        finally:
            db.dispose()

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*WARDEN, *args, "--url", self.url, "--admin-key", self.admin_key],
                              env=self.server.env(), cwd=self.server.workdir,
                              capture_output=True, text=True, timeout=timeout)

    def ask(self, key: str, question: str, model: str = "docs") -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": question}],
                "max_tokens": 4, "temperature": 0}
        if model == "docs":
            body["retrieval"] = {"corpus": CORPUS}
        with self.http(key) as http:
            return http.post("/v1/chat/completions", json=body)

    def live_traffic(self, per_arm: int = 6) -> None:
        questions = [f"{topic} in Python?" for topic in (
            "Merging sorted lists", "Reading CSV files", "A counting dict", "Binary search",
            "A priority queue", "Pretty-printing JSON", "Matching file names",
            "An enumeration")][:per_arm]
        jobs = [(key, q) for q in questions for key in self.sides.values()]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda job: self.ask(*job), jobs))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers][:2]

    def audit_kinds(self) -> list[str]:
        from warden.store.audit import AuditLog
        from warden.store.db import open_database

        db = open_database(f"sqlite:///{self.server.workdir}/warden.db")
        try:
            return [r["kind"] for r in AuditLog(db).export()]
        finally:
            db.dispose()


def user_keys(workdir: Path) -> dict[str, str]:
    """One key per arm of the docs rollout at share 0.5 (assignment is by key id)."""
    from warden.store.db import open_database
    from warden.store.keys import KeyStore

    db = open_database(f"sqlite:///{workdir}/warden.db")
    keys = KeyStore(db)
    sides: dict[str, str] = {}
    try:
        while len(sides) < 2:
            info, secret = keys.create("traffic", "user", "default")
            sides.setdefault(assign(info.id, "docs", 0.5), secret)
    finally:
        db.dispose()
    return sides


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    server = WardenServer(CONFIG, workdir=tmp_path_factory.mktemp("rollout"))
    admin_key = server.create_key("admin", role="admin")
    sides = user_keys(server.workdir)
    rig = Rig(server, admin_key, sides, 0)
    rig.v1 = rig.ingest([*gold_modules(), *DISTRACTORS], "v1")
    with server:
        with rig.http() as http:
            flip = http.post(f"/admin/retrieval/versions/{rig.v1}/activate")
        assert flip.status_code == 200, flip.text
        yield rig


def wait_for_fresh_minute(margin_s: float = 25) -> None:
    """Quota windows are per minute: a check straddling two would see a reset."""
    left = 60 - datetime.now(UTC).second
    if left < margin_s:
        time.sleep(left + 0.5)


def test_shadow_copies_never_reach_the_caller_nor_its_quota(rig: Rig) -> None:
    key = rig.server.create_key("metered", tier="metered")
    wait_for_fresh_minute()
    first = rig.ask(key, "Name a colour.", model="assistant")
    assert first.status_code == 200, first.text
    assert first.headers["x-warden-arm"] == "champion"
    assert first.json()["warden"]["arm"]["name"] == "champion"
    deadline = time.monotonic() + 60
    while rig.get("/admin/canaries/assistant/traffic")["challenger"]["shadow"] < 1:
        assert time.monotonic() < deadline, "the shadow copy never ran"
        time.sleep(0.2)
    second = rig.ask(key, "Name a colour.", model="assistant")
    used = first.json()["usage"]["total_tokens"]
    prompt = second.json()["usage"]["prompt_tokens"]
    tpm, rpm = TIERS["metered"]["tpm"], TIERS["metered"]["rpm"]
    # The second reservation sees the first request's real usage and nothing else.
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == tpm - used - (prompt + 4)
    assert int(second.headers["x-ratelimit-remaining-requests"]) == rpm - 2
    # What the caller got is the champion's answer, not the shadow's.
    assert second.json()["choices"][0]["message"]["content"] == \
        rig.ask(rig.admin_key, "Name a colour.", model="assistant@champion").json()[
            "choices"][0]["message"]["content"]
    metrics = rig.http().get("/metrics").text
    assert 'warden_rollout_requests_total{arm="challenger",kind="shadow",rollout="assistant"}' \
        in metrics


@pytest.mark.timeout(1200)  # measured 4.5-9 min on a 2-core box shared with other builds
def test_a_degraded_index_fails_the_canary_and_is_rolled_back_automatically(rig: Rig
                                                                            ) -> None:
    degraded = rig.ingest(list(DISTRACTORS), "degraded")  # the gold documents removed
    started = rig.cli("rollout", "start", "docs", "--index", f"{CORPUS}={degraded}",
                      "--share", "0.5", "--reason", "candidate index", "--json")
    assert started.returncode == 0, started.stderr
    # An operator flipped the pointer to the candidate as well: rollback must flip it back.
    with rig.http() as http:
        assert http.post(f"/admin/retrieval/versions/{degraded}/activate").status_code == 200
    assert rig.ask(rig.sides["challenger"], "heapq?").headers["x-warden-arm"] == "challenger"
    rig.live_traffic()
    run = rig.cli("canary", "run", "--rollout", "docs", "--once", "--json", "--out",
                  str(rig.server.workdir / "canary-degraded"))
    assert run.returncode == 1, run.stdout + run.stderr
    outcome = json.loads(run.stdout)[-1]
    assert (outcome["verdict"], outcome["action"], outcome["rolled_back"]) == \
        ("fail", "abort", True)
    failing = {k["name"] for k in outcome["evidence"]["result"]["kpis"]
               if k["verdict"] == "fail"}
    assert "oracle_retrieval_hit_prefilter" in failing
    assert outcome["verification"]["matches_baseline"] is True

    state = rig.get("/admin/rollouts/docs")
    assert state["status"] == "rolled_back" and state["incident_id"]
    time.sleep(1.0)  # every replica (this one included) within a second
    assert rig.ask(rig.sides["challenger"], "heapq?").headers["x-warden-arm"] == "champion"
    assert rig.get(f"/admin/retrieval/versions?corpus={CORPUS}")["active"] == {CORPUS: rig.v1}
    steps = {s["step"]: s for s in outcome["rollback"]["steps"]}
    assert steps["pointer"]["detail"] == {"corpus": CORPUS, "from": degraded, "to": rig.v1}
    assert steps["caches"]["detail"]["retrieval_pointer"]["outcome"] == "cleared"
    incident = rig.get(f"/admin/incidents/{state['incident_id']}")
    assert incident["kind"] == "rollout.rollback" and incident["severity"] == "high"
    assert [e["kind"] for e in incident["events"]] == ["opened", "smoke_rerun"]
    assert incident["events"][0]["detail"]["evidence"]["verdict_id"] == outcome["verdict_id"]
    kinds = rig.audit_kinds()
    for kind in ("rollout.start", "canary.verdict", "rollout.rollback",
                 "rollout.rollback.verified"):
        assert kind in kinds, kind
    metrics = rig.http().get("/metrics").text
    assert 'warden_canary_verdict{rollout="docs",verdict="fail"} 1.0' in metrics


@pytest.mark.timeout(1200)  # measured 4.5-9 min on a 2-core box shared with other builds
def test_a_good_candidate_passes_is_promoted_and_can_be_rolled_back_at_once(rig: Rig
                                                                            ) -> None:
    candidate = rig.ingest([*gold_modules(), *DISTRACTORS], "good")  # same text, new version
    started = rig.cli("rollout", "start", "docs", "--index", f"{CORPUS}={candidate}",
                      "--share", "0.5")
    assert started.returncode == 0, started.stderr
    rig.live_traffic()
    run = rig.cli("canary", "run", "--rollout", "docs", "--once", "--json", "--out",
                  str(rig.server.workdir / "canary-good"))
    assert run.returncode == 0, run.stdout + run.stderr
    outcome = json.loads(run.stdout)[-1]
    assert outcome["verdict"] == "pass", json.dumps(outcome["evidence"]["result"], indent=1)
    assert outcome["promoted"] is True  # auto_promote, passing for canary.duration_s
    status = rig.cli("rollout", "status", "docs", "--json")
    state = json.loads(status.stdout)[0]
    assert state["status"] == "idle" and state["challenger"] is None
    assert state["champion"]["indexes"] == {CORPUS: candidate}
    assert state["previous"]["indexes"] == {CORPUS: rig.v1}
    assert rig.get(f"/admin/retrieval/versions?corpus={CORPUS}")["active"] == \
        {CORPUS: candidate}  # traffic outside the rollout follows the new champion

    back = rig.cli("rollout", "rollback", "docs", "--reason", "instant rollback", "--json")
    assert back.returncode == 0, back.stderr
    restored = json.loads(back.stdout)
    assert restored["champion"]["indexes"] == {CORPUS: rig.v1} and restored["previous"] is None
    assert rig.get(f"/admin/retrieval/versions?corpus={CORPUS}")["active"] == {CORPUS: rig.v1}
    report = rig.cli("rollout", "report", "docs", "--json")
    assert report.returncode == 0, report.stderr
    events = [e["kind"] for e in json.loads(report.stdout)["rollout"]["events"]]
    assert events[:3] == ["rollback", "promote", "start"]


def test_the_rollback_drill_proves_every_step_and_restores_the_challenger(rig: Rig) -> None:
    drill = rig.cli("drill", "rollback", "--rollout", "assistant", "--json")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    record = json.loads(drill.stdout)
    assert record["passed"] is True
    assert [c["step"] for c in record["checks"]] == [
        "baseline", "rollback", "traffic", "pointers", "caches", "incident", "audit", "smoke"]
    assert "drill.rollback" in rig.audit_kinds()
    state = rig.get("/admin/rollouts/assistant")
    assert state["status"] == "running" and state["challenger"]["prompt"] == "terse"


def test_drift_report_reads_the_recorded_traffic(rig: Rig) -> None:
    for key in rig.sides.values():
        assert rig.ask(key, "Binary search in Python?").status_code == 200
    time.sleep(1.5)  # samples are written in batches every second
    report = subprocess.run([*WARDEN, "drift", "report", "--json", "--current", "1h",
                             "--baseline", "1h"], env=rig.server.env(), cwd=rig.server.workdir,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    features = {f["feature"]: f for f in json.loads(report.stdout)["features"]}
    assert features["latency"]["n_current"] >= 2
    assert features["top_retrieval_score"]["n_current"] >= 2
    assert features["latency"]["verdict"] == "insufficient"  # no baseline hour yet
    served = rig.get("/admin/drift?current_s=3600")
    assert served["worst"] == "insufficient" and len(served["features"]) >= 5
