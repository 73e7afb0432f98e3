"""Loading and validating red-team case files (no server)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from warden.redteam.cases import FIXTURE_CORPUS, SHIPPED_CASES, CaseError, load_cases
from warden.retrieval.poison import builtin_is_poisoned


def _write(tmp_path: Path, text: str, name: str = "cases.yaml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_shipped_suite_loads_and_covers_every_category() -> None:
    cases = load_cases(SHIPPED_CASES)
    counts = Counter(c.category for c in cases)
    assert len(cases) >= 60
    for category in ("prompt_injection", "jailbreak", "schema", "tool_misuse",
                     "retrieval_poisoning", "pii_exfiltration"):
        assert counts[category] >= 4, (category, counts)
    # The injection and jailbreak prompts are varied, not one attack copied.
    attacks = [c for c in cases if c.category in ("prompt_injection", "jailbreak")]
    prompts = {str(c.request.json_body) for c in attacks if c.request is not None}
    assert len(prompts) == len(attacks) >= 25
    # Cases needing tools name only fixture-registry tools (docs/redteam.md).
    assert {t for c in cases for t in c.requires.tools} <= {"calculator", "notes_append"}
    # Every request is bounded: temperature 0 and a small max_tokens wherever a model runs.
    for case in cases:
        for step in case.all_steps():
            body = step.request.json_body
            if isinstance(body, dict) and "max_tokens" in body:
                assert body["max_tokens"] <= 48 and body.get("temperature") == 0, case.id


def test_fixture_corpus_has_one_poisoned_doc_ingest_catches_and_one_it_misses() -> None:
    """The retrieval cases rely on this split: one quarantined at ingest, one left for the
    request-time guard. If the ingest screen learns Spanish, these cases need a new doc."""
    docs = {p.name: p.read_text() for p in FIXTURE_CORPUS.glob("*.md")}
    poisoned = {name for name, text in docs.items() if builtin_is_poisoned(text)}
    assert poisoned == {"poison-pilot-notice.md"}
    assert "poison-ferry-es.md" in docs
    assert "ZEBRA-7741" in docs["poison-pilot-notice.md"]


@pytest.mark.parametrize(("text", "where"), [
    ("- id: a\n  category: schema\n  description: d\n  request: {path: /x}\n"
     "  expect: {status: [200], colour: red}\n", "case a: expect.colour: unknown field"),
    ("- id: a\n  category: schema\n  description: d\n  request: {path: /x}\n",
     "case a: (case): a case needs request and expect"),
    ("- id: a\n  category: schema\n  description: d\n  request: {path: x}\n"
     "  expect: {status: [200]}\n", "case a: request.path: String should match pattern"),
    ("- id: a\n  category: schema\n  description: d\n  request: {path: /x}\n"
     "  expect: {status: [200], json: [{path: 'a..b', equals: 1}]}\n",
     "case a: expect.json[0].path: 'a..b' is not a dotted path"),
    ("- id: a\n  category: schema\n  description: d\n  request: {path: /x}\n"
     "  expect: {status: [200], json: [{path: a}]}\n", "asserts nothing"),
    ("- id: a\n  category: schema\n  description: d\n  request: {path: /x}\n"
     "  expect: {status: []}\n", "case a: expect.status"),
    ("- category: schema\n  description: d\n  request: {path: /x}\n  expect: {status: 200}\n",
     "case #0: id: field required"),
    ("- id: a\n  category: schema\n  description: d\n  steps:\n"
     "    - {name: s, request: {path: /x}, expect: {status: 200}}\n"
     "    - {name: s, request: {path: /x}, expect: {status: 200}}\n",
     "step names must be unique"),
    ("{id: a}\n", "expected a list of cases"),
    ("- id: a\n  category: [oops\n", "invalid YAML"),
])
def test_invalid_case_files_name_the_file_and_field(tmp_path: Path, text: str,
                                                    where: str) -> None:
    with pytest.raises(CaseError) as error:
        load_cases(_write(tmp_path, text))
    message = str(error.value)
    assert str(tmp_path / "cases.yaml") in message
    assert where.lower() in message.lower(), message


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    case = "- id: same\n  category: schema\n  description: d\n  request: {path: /x}\n" \
           "  expect: {status: [200]}\n"
    _write(tmp_path, case, "a.yaml")
    _write(tmp_path, case, "b.yaml")
    with pytest.raises(CaseError, match=r"b\.yaml: case same: id already used in .*a\.yaml"):
        load_cases(tmp_path)


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"no \*\.yaml case files"):
        load_cases(tmp_path)
    with pytest.raises(CaseError, match="not a directory"):
        load_cases(tmp_path / "absent")


def test_single_request_case_becomes_one_step_and_scalars_become_lists(tmp_path: Path) -> None:
    [case] = load_cases(_write(tmp_path, (
        "cases:\n- id: a\n  category: schema\n  description: d\n"
        "  request: {path: /x, auth: admin, json: {k: 1}}\n"
        "  expect: {status: 400, error_code: bad, body_not_contains: secret}\n")))
    [step] = case.all_steps()
    assert step.name == "request" and step.request.json_body == {"k": 1}
    assert step.expect.status == [400] and step.expect.error_code == ["bad"]
    assert step.expect.body_not_contains == ["secret"]
    assert case.needs_admin
