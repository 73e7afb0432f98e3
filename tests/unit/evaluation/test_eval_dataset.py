"""The shipped evaluation set (pydocs corpus + pydocs_qa.jsonl) is well formed and frozen.

Files are read by path, so these tests need nothing from the warden package.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[3] / "src" / "warden" / "evaluation" / "data"
DATASET = DATA / "pydocs_qa.jsonl"
MANIFEST = DATA / "MANIFEST.json"
README = DATA / "README.md"

FIELDS = {"id", "question", "gt_answer", "corpus", "gold_doc_ids", "gold_spans", "domain",
          "module", "split", "kind"}
DOMAINS = {"text", "data", "files", "net", "math", "dev"}
KINDS = {"factoid", "howto", "unanswerable"}
UNANSWERED = "The documentation does not say."
DEV_SHARE = 0.4
MAX_CORPUS_BYTES = 3_000_000


def load_rows() -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(DATASET.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"pydocs_qa.jsonl:{number} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"pydocs_qa.jsonl:{number} is not an object"
        rows.append(row)
    return rows


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return manifest


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_split(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The documented rule: strata are (domain, answerable?); inside a stratum ids are ordered
    by sha256(id) and the first int(0.4 * n + 0.5) go to dev."""
    strata: dict[tuple[str, bool], list[str]] = defaultdict(list)
    for row in rows:
        strata[(row["domain"], row["kind"] == "unanswerable")].append(row["id"])
    split = {}
    for ids in strata.values():
        ids.sort(key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        n_dev = int(DEV_SHARE * len(ids) + 0.5)
        split.update({i: "dev" if n < n_dev else "test" for n, i in enumerate(ids)})
    return split


def test_every_line_parses_with_the_documented_fields() -> None:
    for row in load_rows():
        assert set(row) == FIELDS, f"{row.get('id')}: fields {sorted(set(row) ^ FIELDS)} differ"
        assert re.fullmatch(r"pyd-\d{4}", row["id"]), row["id"]
        assert row["corpus"] == "pydocs", row["id"]
        assert row["domain"] in DOMAINS, row["id"]
        assert row["kind"] in KINDS, row["id"]
        assert row["split"] in {"dev", "test"}, row["id"]
        assert row["question"].strip().endswith("?"), row["id"]
        assert row["gt_answer"].strip(), row["id"]
        assert isinstance(row["gold_doc_ids"], list), row["id"]
        for span in row["gold_spans"]:
            assert set(span) == {"doc", "text"} and span["text"].strip(), row["id"]


def test_ids_and_questions_are_unique() -> None:
    rows = load_rows()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert len({r["question"] for r in rows}) == len(rows)


def test_size_and_mix() -> None:
    rows = load_rows()
    kinds = Counter(r["kind"] for r in rows)
    assert len(rows) >= 120
    assert 0.08 <= kinds["unanswerable"] / len(rows) <= 0.15
    assert kinds["factoid"] and kinds["howto"]
    assert {r["domain"] for r in rows} == DOMAINS


def test_gold_docs_exist_and_spans_are_exact_substrings() -> None:
    for row in load_rows():
        for doc in row["gold_doc_ids"]:
            assert doc.startswith("pydocs/") and (DATA / doc).is_file(), f"{row['id']}: {doc}"
            assert Path(doc).stem == row["module"], f"{row['id']}: {doc} vs {row['module']}"
        for span in row["gold_spans"]:
            assert span["doc"] in row["gold_doc_ids"], f"{row['id']}: {span['doc']}"
            text = (DATA / span["doc"]).read_text(encoding="utf-8")
            assert span["text"] in text, f"{row['id']}: not in {span['doc']}: {span['text']!r}"


def test_answerable_items_have_evidence_and_unanswerable_ones_have_none() -> None:
    for row in load_rows():
        if row["kind"] == "unanswerable":
            assert row["gold_doc_ids"] == [] and row["gold_spans"] == [], row["id"]
            assert row["gt_answer"] == UNANSWERED, row["id"]
        else:
            assert row["gold_doc_ids"] and row["gold_spans"], row["id"]
            assert row["gt_answer"] != UNANSWERED, row["id"]


def test_splits_follow_the_documented_rule() -> None:
    rows = load_rows()
    assert {r["id"]: r["split"] for r in rows} == expected_split(rows)
    dev = sum(r["split"] == "dev" for r in rows)
    assert 0.35 <= dev / len(rows) <= 0.45
    for domain in DOMAINS:
        splits = {r["split"] for r in rows if r["domain"] == domain}
        assert splits == {"dev", "test"}, domain
    assert {r["split"] for r in rows if r["kind"] == "unanswerable"} == {"dev", "test"}


def test_manifest_checksums_match_the_corpus() -> None:
    manifest = load_manifest()
    on_disk = {f"pydocs/{p.name}" for p in (DATA / "pydocs").glob("*.md")}
    assert set(manifest["files"]) == on_disk
    assert len(manifest["modules"]) == len(on_disk)
    total = 0
    for name, entry in manifest["files"].items():
        path = DATA / name
        assert sha256_file(path) == entry["sha256"], f"{name} changed; rerun make_pydocs.py"
        assert path.stat().st_size == entry["bytes"], name
        total += entry["bytes"]
    listing = "".join(f"{name} {manifest['files'][name]['sha256']}\n"
                      for name in sorted(manifest["files"]))
    assert hashlib.sha256(listing.encode()).hexdigest() == manifest["corpus_sha256"]
    assert total < MAX_CORPUS_BYTES


def test_readme_states_the_current_counts_and_checksum() -> None:
    readme = README.read_text(encoding="utf-8")
    rows = load_rows()
    assert load_manifest()["corpus_sha256"] in readme
    assert sha256_file(DATASET) in readme
    for domain in [*sorted(DOMAINS), "total"]:
        chosen = [r for r in rows if domain in ("total", r["domain"])]
        splits = Counter(r["split"] for r in chosen)
        kinds = Counter(r["kind"] for r in chosen)
        line = (f"| {domain} | {splits['dev']} | {splits['test']} | {len(chosen)} | "
                f"{kinds['factoid']} | {kinds['howto']} | {kinds['unanswerable']} |")
        assert line in readme, f"README counts row is stale; expected {line}"


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7),
                    reason="the corpus is defined by CPython 3.11.7's docstrings")
def test_generator_reproduces_the_committed_corpus() -> None:
    # A fresh interpreter: in this process other tests' imports may have patched a stdlib
    # object (seen in CI: the corpus hash changed in the full run only), which would change
    # what the generator reads; the corpus is defined by plain CPython 3.11.7.
    run = subprocess.run([sys.executable, "-I", str(DATA / "make_pydocs.py"), "--check"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
