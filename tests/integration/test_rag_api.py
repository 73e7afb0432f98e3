"""RAG through the real API: a real server (SmolLM2, safety on), the real MiniLM, an index
built by `warden index ingest` from tests/data/rag (v1 and v2 of a small corpus).

One server for the module (plus a second process on the same SQLite store for the
cross-replica test); every test leaves the corpus pointing at v2 as it found it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.warden_server import MODEL, WardenServer

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "rag"
CORPUS = "rag"
TINY = "tiny-ctx"
TINY_N_CTX = 256
TRAM = "How much does a Glasswing tram day pass cost?"
TIERS = {"default": {"rpm": 10_000, "tpm": 10_000_000, "tokens_per_day": 100_000_000,
                     "max_tokens": 512, "max_concurrent": 16}}


@dataclass
class Rig:
    server: WardenServer
    user_key: str
    admin_key: str
    user_id: str
    admin_id: str
    v1: int
    v2: int

    def post(self, path: str, body: dict[str, Any] | None = None, *, admin: bool = False,
             server: WardenServer | None = None) -> httpx.Response:
        key = self.admin_key if admin else self.user_key
        with (server or self.server).client(key) as http:
            return http.post(path, json=body)

    def get(self, path: str, *, admin: bool = True) -> httpx.Response:
        with self.server.client(self.admin_key if admin else self.user_key) as http:
            return http.get(path)

    def ask(self, prompt: str = TRAM, server: WardenServer | None = None, **retrieval: Any
            ) -> dict[str, Any]:
        response = self.post("/v1/generate", {
            "prompt": prompt, "max_tokens": 8, "temperature": 0, "seed": 1,
            "retrieval": {"corpus": CORPUS, **retrieval}}, server=server)
        assert response.status_code == 200, response.text
        return response.json()

    def placements(self, version: int, *, quarantined: bool = False) -> dict[str, Any]:
        """chunk id → placement, read from the shared SQLite store (the ground truth)."""
        from warden.retrieval.store import ChunkStore
        from warden.store.db import open_database

        db = open_database(f"sqlite:///{self.server.workdir}/warden.db")
        try:
            return {p.chunk_hash: p for p in
                    ChunkStore(db).placements(version, include_quarantined=quarantined)}
        finally:
            db.dispose()

    def audit(self) -> list[dict[str, Any]]:
        from warden.store.audit import AuditLog
        from warden.store.db import open_database

        db = open_database(f"sqlite:///{self.server.workdir}/warden.db")
        try:
            return list(AuditLog(db).export())
        finally:
            db.dispose()


def _ingest(server: WardenServer, *args: str) -> int:
    out = server.cli("index", "ingest", *args, "--corpus", CORPUS).stdout
    match = re.search(r"^VERSION=(\d+)$", out, re.MULTILINE)
    assert match, out
    return int(match.group(1))


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    server = WardenServer({"safety": {"enabled": True}, "tiers": TIERS, "models": [
        {"name": MODEL},
        {"name": TINY, "n_ctx": TINY_N_CTX, "max_batch": 2, "n_batch": 256}]})
    user_key = server.create_key("rag-user")  # also creates the schema, before anything races
    admin_key = server.create_key("rag-admin", role="admin")

    def ingest_both() -> tuple[int, int]:
        return (_ingest(server, str(DATA / "v1"), str(DATA / "common")),
                _ingest(server, str(DATA / "v2"), str(DATA / "common"), "--activate"))

    # The guard's models load while the two ingests run: start-up time overlaps.
    with ThreadPoolExecutor(1) as pool:
        ingests = pool.submit(ingest_both)
        try:
            server.start()
            v1, v2 = ingests.result()
        except BaseException:
            server.stop()
            raise
    try:
        with server.client(admin_key) as http:
            keys = {k["name"]: k["id"] for k in http.get("/admin/keys").json()["data"]}
        yield Rig(server, user_key, admin_key, keys["rag-user"], keys["rag-admin"], v1, v2)
    finally:
        server.stop()


def _source_is(citation: dict[str, Any], version_dir: str, name: str) -> bool:
    return Path(citation["source"]).name == name and \
        Path(citation["source"]).parent.name == version_dir


def test_generate_cites_chunks_of_the_active_version(rig: Rig) -> None:
    body = rig.ask(k=4)
    citations, info = body["citations"], body["retrieval"]
    assert info["corpus"] == CORPUS and info["version"] == rig.v2 and info["k"] == 4
    assert citations and [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    served = rig.placements(rig.v2)
    for citation in citations:
        assert citation["version"] == rig.v2
        placement = served[citation["chunk_id"]]  # a real chunk of v2, not quarantined
        assert (citation["doc_id"], citation["source"]) == (placement.doc_id, placement.source)
    assert _source_is(citations[0], "v2", "glasswing.md")
    assert body["text"] and body["usage"]["prompt_tokens"] > 0


def test_chat_through_the_openai_client_returns_citations_in_warden(rig: Rig) -> None:
    client = openai.OpenAI(base_url=f"{rig.server.base_url}/v1", api_key=rig.user_key,
                           max_retries=0)
    response = client.chat.completions.create(
        model=MODEL, max_tokens=8, temperature=0,
        messages=[{"role": "user", "content": "When was the Gannet Rock lighthouse first lit?"}],
        extra_body={"retrieval": {"corpus": CORPUS, "k": 3}})
    warden = (response.model_extra or {})["warden"]
    assert warden["retrieval"]["version"] == rig.v2
    top = warden["citations"][0]
    assert Path(top["source"]).name == "lighthouse.txt" and top["version"] == rig.v2
    # the chunk holds an e-mail address and a phone number: served redacted, and audited
    assert warden["retrieval"]["redacted"] >= 1
    rid = response.id.removeprefix("chatcmpl-")
    records = [r for r in rig.audit() if r["kind"] == "safety.intervention"
               and r["payload"].get("stage") == "retrieval"
               and r["payload"].get("request_id", "").endswith(rid)]
    assert any(r["payload"]["chunk_id"] == top["chunk_id"] and r["payload"]["served"]
               and r["payload"]["action"] == "redact" for r in records)
    assert "gannet-rock.co.uk" not in json.dumps(records)


def test_streams_carry_citations_on_the_first_chunk(rig: Rig) -> None:
    client = openai.OpenAI(base_url=f"{rig.server.base_url}/v1", api_key=rig.user_key,
                           max_retries=0)
    chunks = list(client.chat.completions.create(
        model=MODEL, max_tokens=8, temperature=0, stream=True,
        messages=[{"role": "user", "content": TRAM}],
        extra_body={"retrieval": {"corpus": CORPUS, "k": 2}}))
    first = (chunks[0].model_extra or {})["warden"]
    assert first["retrieval"]["version"] == rig.v2
    assert _source_is(first["citations"][0], "v2", "glasswing.md")
    assert all("warden" not in (c.model_extra or {}) for c in chunks[1:])
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    with rig.server.client(rig.user_key) as http, http.stream("POST", "/v1/generate", json={
            "prompt": TRAM, "max_tokens": 8, "stream": True,
            "retrieval": {"corpus": CORPUS, "k": 2}}) as response:
        frames = [json.loads(line[6:]) for line in response.iter_lines()
                  if line.startswith("data: {")]
    assert frames[0]["retrieval"]["version"] == rig.v2 and frames[0]["citations"]
    assert all("citations" not in f for f in frames[1:])


def test_admin_rollback_makes_the_next_answer_cite_the_old_version(rig: Rig) -> None:
    flip = rig.post("/admin/retrieval/rollback", {"corpus": CORPUS}, admin=True)
    assert flip.status_code == 200, flip.text
    assert flip.json() == {"corpus": CORPUS, "previous_version": rig.v2,
                           "active_version": rig.v1, "changed": True}
    try:
        body = rig.ask(k=3)
        assert body["retrieval"]["version"] == rig.v1
        assert all(c["version"] == rig.v1 for c in body["citations"])
        assert _source_is(body["citations"][0], "v1", "glasswing.md")
        assert body["citations"][0]["chunk_id"] in rig.placements(rig.v1)
    finally:
        back = rig.post(f"/admin/retrieval/versions/{rig.v2}/activate", admin=True)
        assert back.status_code == 200 and back.json()["active_version"] == rig.v2
    flips = [r for r in rig.audit() if r["kind"] in ("retrieval.rollback",
                                                     "retrieval.activate")]
    assert flips[-2:] == [
        {**flips[-2], "kind": "retrieval.rollback", "actor": rig.admin_id,
         "payload": {"corpus": CORPUS, "from_version": rig.v2, "to_version": rig.v1}},
        {**flips[-1], "kind": "retrieval.activate", "actor": rig.admin_id,
         "payload": {"corpus": CORPUS, "from_version": rig.v1, "to_version": rig.v2}}]


def test_as_of_before_the_second_activation_answers_from_the_first(rig: Rig) -> None:
    versions = rig.get(f"/admin/retrieval/versions?corpus={CORPUS}").json()["data"]
    v2_started = next(v for v in versions if v["id"] == rig.v2)["created_at"]
    body = rig.ask(as_of=v2_started)
    assert body["retrieval"]["version"] == rig.v1 and body["retrieval"]["as_of"]
    assert _source_is(body["citations"][0], "v1", "glasswing.md")
    too_early = rig.post("/v1/generate", {"prompt": TRAM, "max_tokens": 4, "retrieval": {
        "corpus": CORPUS, "as_of": "2001-01-01T00:00:00Z"}})
    assert too_early.status_code == 409
    assert too_early.json()["error"]["param"] == "retrieval.corpus"


def test_a_second_process_honours_a_flip_made_by_the_first(rig: Rig) -> None:
    # Same SQLite store and index files. Lexical-only search, so this replica does not spend
    # half a minute loading torch: the pointer it follows is the same either way.
    second = WardenServer({"tiers": TIERS, "retrieval": {"fusion": {"vector_weight": 0}}},
                          workdir=rig.server.workdir)
    with second:
        assert rig.ask(server=second)["retrieval"]["version"] == rig.v2
        assert rig.post("/admin/retrieval/rollback", {"corpus": CORPUS},
                        admin=True).status_code == 200
        try:
            seen: list[int] = []
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                seen.append(rig.ask(server=second)["retrieval"]["version"])
                if seen[-1] == rig.v1:
                    break
                time.sleep(0.1)
            assert seen[-1] == rig.v1, f"second process kept serving {seen}"
        finally:
            assert rig.post(f"/admin/retrieval/versions/{rig.v2}/activate",
                            admin=True).status_code == 200


def test_the_kill_switch_answers_without_retrieval_and_says_so(rig: Rig) -> None:
    # The flip reaches the serving path within the switch refresh (about 1 s); the 20 s
    # deadline only bounds a loaded machine, it is not a latency check.
    rig.server.cli("switch", "retrieval", "off", "--reason", "rag api test")
    try:
        deadline, body = time.monotonic() + 20.0, rig.ask()
        while "skipped" not in body["retrieval"] and time.monotonic() < deadline:
            time.sleep(0.1)
            body = rig.ask()
        assert body["retrieval"] == {"skipped": "switched_off"} and body["citations"] == []
        assert body["text"] is not None
    finally:
        rig.server.cli("switch", "retrieval", "on")
    deadline, body = time.monotonic() + 20.0, rig.ask()
    while "skipped" in body["retrieval"] and time.monotonic() < deadline:
        time.sleep(0.1)
        body = rig.ask()
    assert body["retrieval"]["version"] == rig.v2
    metrics = rig.get("/metrics").text
    skipped = re.search(r'^warden_retrieval_skipped_total\{reason="switched_off"\} (\S+)$',
                        metrics, re.M)
    assert skipped and float(skipped.group(1)) >= 1
    assert re.search(rf'^warden_retrieval_duration_seconds_count\{{corpus="{CORPUS}"\}} '
                     r'[1-9]', metrics, re.M)


@pytest.mark.parametrize(("padding", "max_tokens"), [(0, 8), (0, 96), (60, 64)])
def test_context_never_outgrows_a_tiny_window(rig: Rig, padding: int, max_tokens: int
                                              ) -> None:
    """n_ctx 256, ten long ledger pages: prompt + context + max_tokens ≤ n_ctx, always."""
    question = "List the barrels in the Ossuary storehouse ledger pages." + \
        " Answer briefly." * padding
    for shape in ({"prompt": question},
                  {"messages": [{"role": "system", "content": "You keep ledgers."},
                                {"role": "user", "content": question}]}):
        response = rig.post("/v1/generate", {
            **shape, "model": TINY, "max_tokens": max_tokens, "temperature": 0,
            "retrieval": {"corpus": CORPUS, "k": 20}})
        assert response.status_code == 200, response.text
        body = response.json()
        info = body["retrieval"]
        assert info["retrieved"] >= 10 and info["context_tokens"] <= info["budget"]
        if padding:  # the question alone leaves no room: it goes out without context
            assert info["budget"] == 0 and body["citations"] == []
            assert body["usage"]["prompt_tokens"] + max_tokens >= TINY_N_CTX
            continue
        assert body["usage"]["prompt_tokens"] + max_tokens <= TINY_N_CTX
        assert body["citations"] and info["over_budget"] >= 1  # the rest did not fit


def test_poisoned_and_guard_blocked_chunks_are_never_cited(rig: Rig) -> None:
    versions = {v["id"]: v for v in rig.get("/admin/retrieval/versions").json()["data"]}
    assert versions[rig.v2]["quarantined"] >= 1
    everything = rig.placements(rig.v2, quarantined=True)
    poisoned = {h for h, p in everything.items() if p.quarantined}
    assert {Path(everything[h].source).name for h in poisoned} == {"harbour-notice.md"}
    body = rig.ask("Is the Quillmoor harbour pilot boat free of charge?", k=10)
    assert body["citations"] and not poisoned & {c["chunk_id"] for c in body["citations"]}

    # Spanish "forget all previous instructions": the ingest screen (English patterns) lets
    # it in, the guard's injection detector blocks it at query time.
    ferry = {h for h, p in everything.items() if Path(p.source).name == "ferry.md"}
    assert ferry and not ferry & poisoned
    body = rig.ask("Saltmarsh ferry timetable from the Quillmoor quay", k=10)
    assert body["retrieval"]["dropped"] >= 1
    assert not ferry & {c["chunk_id"] for c in body["citations"]}
    blocked = [r["payload"] for r in rig.audit() if r["kind"] == "safety.intervention"
               and r["payload"].get("request_id") == body["request_id"]]
    assert any(p["chunk_id"] in ferry and p["action"] == "block" and not p["served"]
               and "injection" in p["categories"] for p in blocked)

    health = rig.get(f"/admin/retrieval/health?corpus={CORPUS}").json()
    assert health == {"corpus": CORPUS, "version": rig.v2, "ok": True,
                      "rows_checked": health["rows_checked"], "problems": []}
    assert health["rows_checked"] == len(rig.placements(rig.v2))


def test_each_retrieval_is_audited_without_the_query_text(rig: Rig) -> None:
    question = "What seals the Hollin page of the Ossuary storehouse ledger?"
    body = rig.ask(question, k=3)
    records = [r for r in rig.audit() if r["kind"] == "retrieval.query"
               and r["payload"].get("request_id") == body["request_id"]]
    assert len(records) == 1
    record = records[0]
    assert record["actor"] == rig.user_id
    expected = hashlib.sha256(unicodedata.normalize("NFKC", question).encode()).hexdigest()
    assert record["payload"]["query_sha256"] == expected
    assert record["payload"]["version"] == rig.v2
    assert {c["chunk_id"] for c in body["citations"]} <= set(record["payload"]["chunk_ids"])
    assert "Hollin page" not in json.dumps(rig.audit())


def test_admin_retrieval_routes(rig: Rig) -> None:
    for method, path in (("GET", "/admin/retrieval/versions"),
                         ("POST", f"/admin/retrieval/versions/{rig.v1}/activate"),
                         ("POST", "/admin/retrieval/rollback"),
                         ("GET", "/admin/retrieval/health")):
        with rig.server.client(rig.user_key) as http:
            response = http.request(method, path)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "admin_required"
    listing = rig.get(f"/admin/retrieval/versions?corpus={CORPUS}").json()
    assert listing["active"] == {CORPUS: rig.v2}
    assert [(v["id"], v["active"], v["state"]) for v in listing["data"]] == \
        [(rig.v1, False, "ready"), (rig.v2, True, "ready")]
    missing = rig.post("/admin/retrieval/versions/99999/activate", admin=True)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "version_id"
    unknown = rig.post("/admin/retrieval/rollback", {"corpus": "no-such-corpus"}, admin=True)
    assert unknown.status_code == 404 and "warden index ingest" in unknown.text
    same = rig.post(f"/admin/retrieval/versions/{rig.v2}/activate", admin=True).json()
    assert same == {"corpus": CORPUS, "previous_version": rig.v2, "active_version": rig.v2,
                    "changed": False}


def test_bad_retrieval_options_are_clear_4xx(rig: Rig) -> None:
    unknown = rig.post("/v1/generate", {"prompt": TRAM, "retrieval": {"corpus": "atlantis"}})
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["param"] == "retrieval.corpus" and "warden index ingest" in error["message"]
    for bad, param in (({"k": 0}, "retrieval.k"), ({"k": 51}, "retrieval.k"),
                       ({"as_of": "last tuesday"}, "retrieval.as_of"),
                       ({"kk": 3}, "retrieval.kk")):
        response = rig.post("/v1/generate", {"prompt": TRAM, "retrieval": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error"]["param"] == param
