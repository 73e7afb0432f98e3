"""Rollouts on the scaled path: two replicas over one PostgreSQL store, with Redis for the
shared limits. A rollback or a start made through one replica is honoured by the other
within a second; a canary verdict posted to one is seen by the other; a scheduled job runs
on one replica at a time (a lease in the store), and `warden schedules` lists its runs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest

from tests.support.postgres import throwaway_databases
from tests.support.redis_keys import throwaway_prefix
from tests.support.warden_server import MODEL, WardenServer
from warden.rollout.assignment import assign

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("WARDEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DRIFT_EVERY_S = 5


@dataclass
class Pair:
    a: WardenServer
    b: WardenServer
    admin_key: str
    on_challenger: str  # a user key the assistant rollout assigns to the challenger

    def arm(self, server: WardenServer, key: str | None = None) -> str:
        with server.client(key or self.on_challenger) as http:
            response = http.post("/v1/chat/completions", json={
                "model": "assistant", "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 1})
        assert response.status_code == 200, response.text
        return response.headers["x-warden-arm"]

    def admin(self, server: WardenServer, method: str, path: str,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        with server.client(self.admin_key) as http:
            response = http.request(method, path, json=body)
        assert response.status_code in {200, 201}, response.text
        out: dict[str, Any] = response.json()
        return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with throwaway_databases() as urls, throwaway_prefix(REDIS_URL, "rollout") as prefix:
        config = {
            "store": {"url": urls[0], "redis_url": REDIS_URL},
            "switches": {"redis_prefix": f"{prefix}switches:"},
            "rollouts": {
                "prompts": {"terse": {"system": "Reply with one word."}},
                "models": {"assistant": {
                    "champion": {"model": MODEL},
                    "challenger": {"model": MODEL, "prompt": "terse"}, "share": 0.5}},
                "schedules": {"enabled": True, "canary": False, "lease_s": 10,
                              "drift": {"every_s": DRIFT_EVERY_S}}}}
        a = WardenServer(config, workdir=tmp_path_factory.mktemp("replica-a"))
        b = WardenServer(config, workdir=tmp_path_factory.mktemp("replica-b"))
        admin_key = a.create_key("admin", role="admin")
        on_challenger = ""
        while not on_challenger:
            secret = a.create_key("user")
            key_id = secret.split("_")[1]
            if assign(key_id, "assistant", 0.5) == "challenger":
                on_challenger = secret
        with a, b:
            yield Pair(a, b, admin_key, on_challenger)


def test_a_rollback_through_one_replica_is_honoured_by_the_other_within_a_second(
        pair: Pair) -> None:
    assert pair.arm(pair.a) == pair.arm(pair.b) == "challenger"
    rolled = pair.admin(pair.a, "POST", "/admin/rollouts/assistant/rollback",
                        {"reason": "replica test"})
    assert rolled["status"] == "rolled_back"
    time.sleep(1.0)
    assert pair.arm(pair.b) == "champion"
    started = pair.admin(pair.b, "POST", "/admin/rollouts/assistant/start", {"share": 0.5})
    assert started["status"] == "running"
    time.sleep(1.0)
    assert pair.arm(pair.a) == "challenger"
    caches = [c for c in pair.admin(pair.b, "GET", "/admin/rollouts/assistant")[
        "caches_cleared"]]
    assert caches, "replica b cleared nothing when it saw the rollback"


def test_a_verdict_posted_to_one_replica_is_seen_by_the_other(pair: Pair) -> None:
    state = pair.admin(pair.a, "GET", "/admin/rollouts/assistant")
    posted = pair.admin(pair.a, "POST", "/admin/canaries/assistant/verdicts", {
        "verdict": "inconclusive", "score": 40.0, "action": "continue",
        "champion_hash": state["champion"]["hash"],
        "challenger_hash": state["challenger"]["hash"], "evidence": {"note": "test"}})
    seen = pair.admin(pair.b, "GET", "/admin/rollouts/assistant")["latest_verdict"]
    assert seen["id"] == posted["id"] and seen["verdict"] == "inconclusive"


def test_a_scheduled_job_runs_on_one_replica_at_a_time(pair: Pair) -> None:
    deadline = time.monotonic() + 90
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = pair.a.cli("schedules", "--job", "drift", "--json")
        runs = [r for r in json.loads(listed.stdout)["runs"] if r["finished_at"]]
        if len(runs) >= 3:
            break
        time.sleep(3)
    assert len(runs) >= 3, runs
    spans = sorted((datetime.fromisoformat(r["started_at"]),
                    datetime.fromisoformat(r["finished_at"])) for r in runs)
    for (_, end), (start, _) in pairwise(spans):
        assert end <= start, "two replicas ran the drift job at the same time"
    gaps = [(later[0] - earlier[0]).total_seconds() for earlier, later in pairwise(spans)]
    assert min(gaps) >= DRIFT_EVERY_S - 0.5, gaps  # never twice in one period
    assert {r["status"] for r in runs} == {"ok"}
    assert len({r["holder"] for r in runs}) >= 1
