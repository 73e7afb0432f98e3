"""Reading RAGChecker's checking-output JSON: the claim labels per query, shapes checked.

The file is what `ragchecker-cli --output_path` writes: `{"results": [...]}`, each result with
`query_id`, optionally `response_claims` / `gt_answer_claims` / `retrieved_context`, and the
four label sets (`answer2response`, `response2answer`, `retrieved2response`,
`retrieved2answer`) that the extractor and checker models produced. A missing label set is
allowed (that metric is then unmeasured); a malformed one is an error naming its place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_FIELDS = ("answer2response", "response2answer", "retrieved2response", "retrieved2answer")

Labels = tuple[str, ...]
LabelMatrix = tuple[Labels, ...]  # one row per claim, one label per retrieved chunk


class CheckingOutputError(ValueError):
    """The file is not a usable RAGChecker checking output; the message names where."""


@dataclass(frozen=True)
class CheckedQuery:
    """One query's claim labels. A label set is None when the file does not carry it.

    answer2response[i]: response claim i checked against the ground-truth answer.
    response2answer[j]: ground-truth claim j checked against the response.
    retrieved2response[i][k]: response claim i checked against retrieved chunk k.
    retrieved2answer[j][k]: ground-truth claim j checked against retrieved chunk k.
    """

    query_id: str
    answer2response: Labels | None
    response2answer: Labels | None
    retrieved2response: LabelMatrix | None
    retrieved2answer: LabelMatrix | None

    def label_set(self, name: str) -> Labels | LabelMatrix | None:
        if name not in LABEL_FIELDS:
            raise KeyError(f"unknown label set {name!r}; one of {', '.join(LABEL_FIELDS)}")
        value: Labels | LabelMatrix | None = getattr(self, name)
        return value


def _labels(value: Any, where: str) -> Labels:
    if not isinstance(value, list):
        raise CheckingOutputError(f"{where}: expected a list of labels such as "
                                  f"\"Entailment\", got {type(value).__name__}")
    for i, label in enumerate(value):
        if not isinstance(label, str):
            raise CheckingOutputError(f"{where}[{i}]: expected a label string (\"Entailment\", "
                                      f"\"Neutral\" or \"Contradiction\"), got {label!r}")
    return tuple(value)


def _matrix(value: Any, where: str) -> LabelMatrix:
    if not isinstance(value, list):
        raise CheckingOutputError(f"{where}: expected a list with one list of labels per "
                                  f"claim, got {type(value).__name__}")
    rows = tuple(_labels(row, f"{where}[{i}]") for i, row in enumerate(value))
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        first = len(rows[0])
        bad = next(i for i, row in enumerate(rows) if len(row) != first)
        raise CheckingOutputError(f"{where}[{bad}]: has {len(rows[bad])} labels but "
                                  f"{where}[0] has {first}; every claim needs one label per "
                                  "retrieved chunk")
    return rows


def _expect_length(where: str, actual: int, expected: int | None, what: str) -> None:
    if expected is not None and actual != expected:
        raise CheckingOutputError(f"{where}: has {actual} entries but there are {expected} "
                                  f"{what}; the labels do not belong to these claims")


def _count(result: dict[str, Any], key: str, where: str) -> int | None:
    value = result.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise CheckingOutputError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return len(value)


def _query(result: Any, index: int) -> CheckedQuery:
    where = f"results[{index}]"
    if not isinstance(result, dict):
        raise CheckingOutputError(f"{where}: expected an object, got {type(result).__name__}")
    query_id = result.get("query_id", str(index))
    if not isinstance(query_id, str | int):
        raise CheckingOutputError(f"{where}.query_id: expected a string, got {query_id!r}")
    n_response = _count(result, "response_claims", where)
    n_answer = _count(result, "gt_answer_claims", where)
    n_chunks = _count(result, "retrieved_context", where)

    def flat(key: str) -> Labels | None:
        raw = result.get(key)
        return None if raw is None else _labels(raw, f"{where}.{key}")

    def grid(key: str) -> LabelMatrix | None:
        raw = result.get(key)
        return None if raw is None else _matrix(raw, f"{where}.{key}")

    a2r, r2a = flat("answer2response"), flat("response2answer")
    ret2resp, ret2ans = grid("retrieved2response"), grid("retrieved2answer")
    # Claims are counted from whichever source the file has, and every other source must
    # agree: labels for another query's claims would otherwise score silently.
    for labels, key, n_claims, claims_key in (
            (a2r, "answer2response", n_response, "response claims"),
            (ret2resp, "retrieved2response", n_response, "response claims"),
            (r2a, "response2answer", n_answer, "ground-truth answer claims"),
            (ret2ans, "retrieved2answer", n_answer, "ground-truth answer claims")):
        if labels is not None:
            _expect_length(f"{where}.{key}", len(labels), n_claims, claims_key)
    if a2r is not None and ret2resp is not None:
        _expect_length(f"{where}.retrieved2response", len(ret2resp), len(a2r),
                       "labels in answer2response (one per response claim)")
    if r2a is not None and ret2ans is not None:
        _expect_length(f"{where}.retrieved2answer", len(ret2ans), len(r2a),
                       "labels in response2answer (one per ground-truth claim)")
    for key, matrix in (("retrieved2response", ret2resp), ("retrieved2answer", ret2ans)):
        if matrix:
            _expect_length(f"{where}.{key}[0]", len(matrix[0]), n_chunks,
                           "chunks in retrieved_context")
    if ret2resp and ret2ans and len(ret2resp[0]) != len(ret2ans[0]):
        raise CheckingOutputError(f"{where}: retrieved2response rows have {len(ret2resp[0])} "
                                  f"labels but retrieved2answer rows have {len(ret2ans[0])}; "
                                  "both need one label per retrieved chunk")
    return CheckedQuery(str(query_id), a2r, r2a, ret2resp, ret2ans)


def parse_checking_output(data: Any) -> list[CheckedQuery]:
    """The labelled queries of a decoded checking-output document."""
    if not isinstance(data, dict) or "results" not in data:
        raise CheckingOutputError("top level: expected an object with a \"results\" list, as "
                                  "ragchecker-cli writes with --output_path")
    results = data["results"]
    if not isinstance(results, list):
        raise CheckingOutputError(f"results: expected a list, got {type(results).__name__}")
    if not results:
        raise CheckingOutputError("results: the list is empty; there is nothing to score")
    queries = [_query(result, i) for i, result in enumerate(results)]
    if not any(q.label_set(key) is not None for q in queries for key in LABEL_FIELDS):
        raise CheckingOutputError(
            "results: no result carries any label set (" + ", ".join(LABEL_FIELDS) + "); this "
            "looks like a checking INPUT file. Run ragchecker-cli with --output_path first.")
    return queries


def load_checking_output(path: Path) -> list[CheckedQuery]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckingOutputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckingOutputError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckingOutputError(f"{path}: not valid JSON (line {exc.lineno}, column "
                                  f"{exc.colno}: {exc.msg})") from None
    try:
        return parse_checking_output(data)
    except CheckingOutputError as exc:
        raise CheckingOutputError(f"{path}: {exc}") from None
