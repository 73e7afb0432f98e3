"""kill -9 during an ingest leaves the store consistent: no half-visible version, the
pointer untouched, the old answers served, and the next run completes (reusing the
embeddings the killed run had already stored)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.test_retrieval_cli import DATA, Workspace, flat
from warden.retrieval.tables import RetrievalEmbedding
from warden.retrieval.versions import VersionStore
from warden.store.db import open_database

pytestmark = pytest.mark.integration

WORDS = (
    "kettle", "water", "boil", "descale", "vinegar", "limescale", "tea", "cup", "filter",
    "heater", "lid", "spout", "base", "cable", "switch", "light", "steam", "temperature",
    "warranty", "repair", "return", "parcel", "order", "invoice", "bicycle", "chain", "tyre",
    "brake", "saddle", "pedal", "gear", "wheel", "frame", "helmet", "lamp", "bell",
)


def _big_corpus(root: Path, documents: int = 60) -> Path:
    rng = random.Random(9)
    root.mkdir(parents=True)
    for i in range(documents):
        paragraphs = ["\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) + "."
                                for _ in range(6)) for _ in range(8)]
        (root / f"doc{i:04d}.md").write_text(f"# Document {i}\n\n" + "\n\n".join(paragraphs))
    return root


def _embeddings(url: str) -> int:
    db = open_database(url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(RetrievalEmbedding)) or 0
    finally:
        db.dispose()


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("kill_at", ["after_version_reserved", "while_embedding"])
def test_kill_9_during_ingest_leaves_the_store_consistent(tmp_path: Path,
                                                          kill_at: str) -> None:
    workspace = Workspace(tmp_path / "ws")
    url = f"sqlite:///{workspace.root}/warden.db"
    workspace.ingest(str(DATA / "v1"))
    before = workspace.answers()
    corpus = _big_corpus(tmp_path / "big")
    embedded_before = _embeddings(url)

    proc = subprocess.Popen(workspace.command("index", "ingest", str(corpus), "--activate"),
                            cwd=workspace.root, env=workspace.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the version is reserved (state 'building') first
            if line.startswith("VERSION="):
                break
        else:
            pytest.fail(f"ingest ended before reserving a version (exit {proc.wait()})")
        if kill_at == "while_embedding":
            _wait_for(lambda: _embeddings(url) >= embedded_before + 64, 300,
                      "the killed run to store its first embeddings")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    db = open_database(url)
    try:
        versions = {v.id: v.state for v in VersionStore(db).list()}
        assert versions == {1: "ready", 2: "building"}  # invisible, never half-ready
        assert VersionStore(db).active("default") == 1
    finally:
        db.dispose()
    assert workspace.answers() == before
    refused = workspace.run("index", "activate", "2", check=False)
    assert refused.returncode == 1 and "building, not ready" in flat(refused.stderr)

    out = workspace.run("index", "ingest", str(corpus), "--activate").stdout
    assert "VERSION=3" in out and "is active" in out
    if kill_at == "while_embedding":
        reused = int(out.split("computed, ")[1].split(" reused")[0])
        assert reused >= 64  # what the killed run embedded was kept, content-addressed
    hits = json.loads(workspace.run("search", "kettle descale", "--json").stdout)
    assert hits["version"] == 3 and hits["hits"][0]["source"].startswith(str(corpus))
