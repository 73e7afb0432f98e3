"""`warden eval run` end to end: a real server (SmolLM2), a real corpus (5 modules of the
shipped pydocs snapshot, ingested with `warden index ingest`), the real MiniLM few-shot path.

- two runs of the same manifest give byte-identical answers and identical quality metrics
  (the built-in judge labels one item in each);
- a dataset naming a corpus with no active version stops at the health gates: exit 3, the
  gate named;
- an impossible gate fails the run: exit 1, the gate named (a smoke run, so its DB
  workflows, meta-ops and negatives run against the same store too).

Kept small for the 2-core machine: few items, 24 answer tokens, the judge on one item.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.warden_server import WardenServer
from warden.evaluation.dataset import SHIPPED_DATASET
from warden.evaluation.report import quality_view

pytestmark = pytest.mark.integration

MODULES = ("heapq", "bisect", "fnmatch", "glob", "secrets")
CORPUS = "pydocs"
TIERS = {"default": {"rpm": 100_000, "tpm": 100_000_000, "tokens_per_day": 1_000_000_000,
                     "max_tokens": 512, "max_concurrent": 16}}
SMALL = ("--max-tokens", "24", "--k", "3")


@dataclass
class Rig:
    server: WardenServer
    key: str
    dataset: Path

    def eval(self, *args: str, server: bool = True) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "warden.cli.main", "eval", *args]
        if server:
            command += ["--url", self.server.base_url, "--key", self.key, "--config",
                        str(self.server.config_path)]
        return subprocess.run(command, cwd=self.server.workdir, env=self.server.env(),
                              capture_output=True, text=True, timeout=1500)


def subset_dataset(path: Path, modules: tuple[str, ...], corpus: str = CORPUS) -> Path:
    rows = [json.loads(line) for line in SHIPPED_DATASET.read_text().splitlines()]
    chosen = [{**row, "corpus": corpus} for row in rows if row["module"] in modules]
    path.write_text("".join(json.dumps(row) + "\n" for row in chosen), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    server = WardenServer({"tiers": TIERS, "server": {"request_timeout_s": 900},
                           "retrieval": {"default_corpus": CORPUS}})
    source = SHIPPED_DATASET.parent / "pydocs"
    (server.workdir / "pydocs").mkdir()
    for module in MODULES:
        shutil.copy(source / f"{module}.md", server.workdir / "pydocs" / f"{module}.md")
    key = server.create_key("eval")
    # From the workdir, so doc ids are `pydocs/<module>.md`, the dataset's gold ids.
    out = server.cli("index", "ingest", "pydocs", "--corpus", CORPUS).stdout
    assert "VERSION=1" in out, out
    dataset = subset_dataset(server.workdir / "subset.jsonl", MODULES)
    with server:
        yield Rig(server, key, dataset)


def read_run(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    report = json.loads((out / "report.json").read_text())
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    return lines, report, manifest


def test_two_runs_of_one_manifest_give_identical_answers_and_metrics(rig: Rig) -> None:
    runs = []
    for name in ("first", "second"):
        out = rig.server.workdir / name
        done = rig.eval("run", "--dataset", str(rig.dataset), "--split", "test", "--limit",
                        "3", *SMALL, "--judge", "builtin", "--judge-items", "1", "--gates",
                        str(write_gates(rig.server.workdir / "lenient.yaml",
                                        {"prefix_leakage_max": 0})), "--out", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(read_run(out))
    (lines_a, report_a, manifest_a), (lines_b, report_b, manifest_b) = runs
    assert [x["answer"] for x in lines_a] == [x["answer"] for x in lines_b]
    assert all(x["answer"] for x in lines_a) and len(lines_a) == 3
    assert [x["few_shot_ids"] for x in lines_a] == [x["few_shot_ids"] for x in lines_b]
    assert all(len(x["few_shot_ids"]) == 2 and len(x["prompt_hash"]) == 64 for x in lines_a)
    assert quality_view(report_a) == quality_view(report_b)
    assert report_a["metrics"]["judged_items"] == 1
    assert report_a["metrics"]["claims"]["precision"]["state"] == "measured"
    assert lines_a[0]["judge"] == lines_b[0]["judge"]  # the same claims and labels
    unpinned = ("git_commit", "git_dirty", "manifest_hash")  # other work may commit meanwhile
    assert {k: v for k, v in manifest_a.items() if k not in unpinned} == \
        {k: v for k, v in manifest_b.items() if k not in unpinned}
    assert manifest_a["corpora"][0]["active_version"] == 1
    assert manifest_a["seed"] == 42 and manifest_a["temperature"] == 0.0
    assert manifest_a["cache_enabled"] is False and manifest_a["judge"]["tool"]
    out = rig.server.workdir / "first"
    export = rig.server.cli("audit", "export").stdout
    records = [json.loads(x) for x in export.splitlines() if '"eval.run"' in x]
    recorded = {r["payload"]["report_hash"]: r["payload"] for r in records}
    report_hash = hashlib.sha256((out / "report.json").read_bytes()).hexdigest()
    assert recorded[report_hash]["manifest_hash"] == manifest_a["manifest_hash"]
    assert recorded[report_hash]["verdict"] == "pass"
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "prefix_leakage_max" in (out / "report.md").read_text()
    printed = rig.eval("manifest", "--dataset", str(rig.dataset), "--split", "test",
                       "--limit", "3", *SMALL, "--judge", "builtin", "--judge-items", "1",
                       "--gates",
                       str(rig.server.workdir / "lenient.yaml"), "--format", "json")
    assert printed.returncode == 0, printed.stderr
    assert {k: v for k, v in json.loads(printed.stdout).items() if k not in unpinned} == \
        {k: v for k, v in manifest_a.items() if k not in unpinned}
    compared = rig.eval("compare", str(rig.server.workdir / "first"),
                        str(rig.server.workdir / "second"), "--json", server=False)
    assert json.loads(compared.stdout)["answers_changed"] == 0


def write_gates(path: Path, gates: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(gates))
    return path


def test_a_corpus_without_an_active_version_fails_its_health_gate(rig: Rig) -> None:
    dataset = subset_dataset(rig.server.workdir / "ghost.jsonl", ("heapq",), corpus="ghost")
    done = rig.eval("run", "--dataset", str(dataset), "--limit", "1", "--few-shot", "0",
                    "--judge", "none", "--out", str(rig.server.workdir / "ghost"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "health gate failed: corpus:ghost" in done.stderr
    assert "no active version" in done.stderr and "warden index ingest" in done.stderr
    assert not (rig.server.workdir / "ghost" / "results.jsonl").exists()
    health = json.loads((rig.server.workdir / "ghost" / "health.json").read_text())
    assert [g["gate"] for g in health["gates"] if g["status"] == "fail"] == ["corpus:ghost"]


def test_an_impossible_gate_fails_the_run_by_name(rig: Rig) -> None:
    gates = write_gates(rig.server.workdir / "impossible.yaml", {"latency_max": 0.001})
    out = rig.server.workdir / "smoke"
    done = rig.eval("run", "--suite", "smoke", "--dataset", str(rig.dataset), "--split",
                    "dev", "--limit", "2", *SMALL, "--few-shot", "0", "--judge", "none",
                    "--gates", str(gates), "--out", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "latency_max: fail" in done.stderr
    _, report, _ = read_run(out)
    assert report["verdict"] == "fail"
    checks = {(c["group"], c["name"]): c for c in report["suite_checks"]}
    failed = [c for c in checks.values() if c["status"] != "pass"]
    assert not failed, failed  # DB workflows, meta-ops and negatives all ran and passed
    assert ("db_workflows", "server refuses the revoked key") in checks
    assert ("negatives", "404 unknown corpus") in checks
