"""One item's request and result: deterministic-mode request bodies, parsing Warden's chat
response (citations, candidates, doc ids from another directory), failure classes."""

from __future__ import annotations

from typing import Any

from warden.evaluation.dataset import EvalItem
from warden.evaluation.prompt import item_prompt
from warden.evaluation.records import (
    FailureClass,
    absorb_response,
    failure_class,
    item_figures,
    new_result,
    request_body,
    result_line,
)

ITEM = EvalItem("q1", "What does json.dumps escape?", "It escapes non-ASCII characters.",
                corpus="pydocs", gold_doc_ids=("pydocs/json.md",), split="test",
                domain="data", kind="factoid")
PREFIX = "src/warden/evaluation/data/"


def response(answer: str, cited_docs: list[str], candidates: list[str]) -> dict[str, Any]:
    citations = [{"n": i, "chunk_id": f"c{i}", "doc_id": PREFIX + doc, "source": doc,
                  "version": 1, "score": 0.1, "truncated": False}
                 for i, doc in enumerate(cited_docs, start=1)]
    return {"choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 500, "completion_tokens": 9},
            "warden": {"citations": citations, "retrieval": {
                "version": 1, "k": 5, "context_tokens": 400, "budget": 1024,
                "candidates": [{"chunk_id": f"x{i}", "doc_id": PREFIX + d}
                               for i, d in enumerate(candidates)]}}}


def result_for(item: EvalItem, answer: str, cited: list[str], candidates: list[str]) -> Any:
    prompt = item_prompt(item, [])
    result = new_result(item, prompt, request_body(prompt, item, "m", 64, 5))
    absorb_response(result, response(answer, cited, candidates), 1.25)
    return result


def test_request_body_is_deterministic_uncached_and_retrieves() -> None:
    prompt = item_prompt(ITEM, [])
    body = request_body(prompt, ITEM, "m", 64, 3)
    assert body["temperature"] == 0.0 and body["seed"] == 42 and body["cache"] is False
    assert body["retrieval"] == {"corpus": "pydocs", "k": 3}
    assert body["messages"][-1]["content"] == ITEM.question
    no_corpus = EvalItem("q2", "Q", "A")
    assert "retrieval" not in request_body(item_prompt(no_corpus, []), no_corpus, "m", 8, None)


def test_parsing_aligns_doc_ids_and_finds_gold() -> None:
    result = result_for(ITEM, "It escapes non-ASCII characters [2].",
                        ["pydocs/csv.md", "pydocs/json.md"], ["pydocs/re.md", "pydocs/json.md"])
    # only gold ids are aligned (the server's prefix depends on where it ingested from)
    assert [ref.doc_id for _, ref in result.citations] == [PREFIX + "pydocs/csv.md",
                                                           "pydocs/json.md"]
    assert result.oracle_rank() == 2
    assert [ref.chunk_id for ref in result.cited() or ()] == ["c2"]
    figures = item_figures(result)
    assert figures["oracle_retrieval_hit_prefilter"] == 1.0
    assert figures["reader_used_gold"] == 1.0 and figures["gold_served"] == 1.0
    assert figures["token_f1"] == 1.0 and figures["latency_s"] == 1.25
    record = result.record()
    assert record.context_tokens == 400 and record.context_budget == 1024
    line = result_line(result)
    assert line["failure_class"] == FailureClass.OK and line["candidates"] == 2
    assert "candidates" not in line["retrieval"]


def test_failure_classes_in_pipeline_order() -> None:
    gold, other = ["pydocs/json.md"], ["pydocs/csv.md"]
    assert failure_class(result_for(ITEM, "It escapes them [1].", other, other)) == \
        FailureClass.RETRIEVAL_MISS
    assert failure_class(result_for(ITEM, "The documentation does not say.", gold, gold)) == \
        FailureClass.REFUSAL
    assert failure_class(result_for(ITEM, "It escapes non-ASCII characters.", gold, gold)) == \
        FailureClass.READER_IGNORED_GOLD  # gold served, nothing cited
    assert failure_class(result_for(ITEM, "It writes a file [1].", gold, gold)) == \
        FailureClass.WRONG_ANSWER
    unanswerable = EvalItem("q9", "Q?", "The documentation does not say.", corpus="pydocs",
                            kind="unanswerable")
    assert failure_class(result_for(unanswerable, "The documentation does not say.", other,
                                    other)) == FailureClass.OK
    assert failure_class(result_for(unanswerable, "Yes, always [1].", other, other)) == \
        FailureClass.ANSWERED_UNANSWERABLE
    failed = new_result(ITEM, item_prompt(ITEM, []), {})
    failed.error = "504 timeout"
    assert failure_class(failed) == FailureClass.ERROR
    assert item_figures(failed)["token_f1"] == 0.0


def test_a_malformed_response_is_an_item_error() -> None:
    result = new_result(ITEM, item_prompt(ITEM, []), {})
    absorb_response(result, {"object": "nothing"}, 0.5)
    assert result.answer is None and "not a chat completion" in (result.error or "")
