"""`kill -9` in the middle of a batch, then a restart: every line is answered exactly once.

The lease TTL is set far beyond the test's timeout, so the job can only finish if the
restarted server recognises the dead holder's lease on this host and takes the job at once.
"""

from __future__ import annotations

import json
import sqlite3
import time

import openai
import pytest

from tests.support.warden_server import MODEL, WardenServer

pytestmark = pytest.mark.integration

LINES = 24


def answered_rows(server: WardenServer, batch_id: str) -> dict[int, str]:
    with sqlite3.connect(server.workdir / "warden.db") as connection:
        rows = connection.execute("SELECT line_no, line FROM batch_results WHERE batch_id = ?",
                                  (batch_id,)).fetchall()
    return {int(n): str(line) for n, line in rows}


def test_kill_9_mid_batch_then_restart_answers_every_line_exactly_once() -> None:
    server = WardenServer({"models": [{"name": MODEL, "max_batch": 4}],
                           "batch": {"lease_ttl_s": 3600, "poll_interval_s": 0.25}})
    lines = [{"custom_id": f"line-{i:02d}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": MODEL, "max_tokens": 24, "temperature": 0,
                       "messages": [{"role": "user", "content": f"Describe the number {i}."}]}}
             for i in range(LINES)]
    with server:
        key = server.create_key("restart")
        client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0)
        uploaded = client.files.create(
            file=("lines.jsonl", "\n".join(json.dumps(x) for x in lines).encode()),
            purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id,
                                      endpoint="/v1/chat/completions", completion_window="24h")
        deadline = time.monotonic() + 180
        while len(answered_rows(server, batch.id)) < 4:
            assert time.monotonic() < deadline, "no lines answered before the kill"
            time.sleep(0.1)
        assert server.proc is not None
        server.proc.kill()  # SIGKILL: no drain, no lease release, lines in flight die
        server.proc.wait(timeout=30)
        before = answered_rows(server, batch.id)
        assert 4 <= len(before) < LINES, "the kill should land mid-batch"

        server.start()
        deadline = time.monotonic() + 240
        while (batch := client.batches.retrieve(batch.id)).status != "completed":
            assert batch.status in ("in_progress", "finalizing"), batch.status
            assert time.monotonic() < deadline, f"still {batch.status} after the restart"
            time.sleep(0.5)
        after = answered_rows(server, batch.id)
        assert {n: after[n] for n in before} == before  # answers from before the kill kept
        assert batch.request_counts is not None
        assert (batch.request_counts.total, batch.request_counts.completed) == (LINES, LINES)
        output = [json.loads(x) for x in
                  client.files.content(batch.output_file_id or "").text.splitlines()]
        custom_ids = [item["custom_id"] for item in output]
        assert sorted(custom_ids) == [f"line-{i:02d}" for i in range(LINES)]  # each once
        assert len({item["id"] for item in output}) == LINES
        assert batch.error_file_id is None
