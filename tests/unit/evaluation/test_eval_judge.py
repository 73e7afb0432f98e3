"""The claim judge over a scripted OpenAI-compatible endpoint: RAGChecker's four label sets
in the right shapes, constrained-decoding requests, repeats with their own seeds, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx

from warden.evaluation.client import HttpEndpoint
from warden.evaluation.judge import LABELS, ClaimJudge, JudgeSettings, judge_prompt_hash
from warden.evaluation.ragchecker import score_queries


class ScriptedJudge:
    """Extraction returns fixed claims per text; checking says Entailment when the claim's
    first word occurs in the reference, else Neutral. Records every request body."""

    def __init__(self, claims: dict[str, list[str]], finish: str = "stop") -> None:
        self.claims = claims
        self.finish = finish
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        if system.startswith("You extract"):
            text = user.split("Text:\n", 1)[1]
            answer: dict[str, Any] = {"claims": self.claims.get(text, [])}
        else:
            reference, claims = user.split("Reference:\n", 1)[1].split("\n\nClaims:\n")
            labels = ["Entailment" if line.split(". ", 1)[1].split()[0] in reference
                      else "Neutral" for line in claims.splitlines()]
            answer = {"labels": labels}
        return httpx.Response(200, json={"choices": [{
            "message": {"content": json.dumps(answer)}, "finish_reason": self.finish}]})


def judge(script: ScriptedJudge, repeat: int = 1, warden: bool = True) -> ClaimJudge:
    endpoint = HttpEndpoint("http://judge/v1", "k", transport=httpx.MockTransport(script))
    return ClaimJudge(endpoint, JudgeSettings("m", "builtin", "b" * 64, warden, repeat))


CLAIMS = {"alpha beta": ["alpha is one", "gamma is two"], "alpha delta": ["alpha again",
                                                                        "delta too",
                                                                        "omega never"]}


def test_labels_have_ragcheckers_shapes_and_score() -> None:
    script = ScriptedJudge(CLAIMS)
    result = judge(script).label("q1", "Q?", "alpha beta", "alpha delta",
                                 ["alpha text", "gamma and delta", "nothing"])
    assert result.error is None and result.response_claims == ("alpha is one", "gamma is two")
    query = result.labellings[0]
    assert query.answer2response == ("Entailment", "Neutral")  # response claims vs gt answer
    assert query.response2answer == ("Entailment", "Neutral", "Neutral")
    assert query.retrieved2response == (("Entailment", "Neutral", "Neutral"),
                                        ("Neutral", "Entailment", "Neutral"))
    assert query.retrieved2answer == (("Entailment", "Neutral", "Neutral"),
                                      ("Neutral", "Entailment", "Neutral"),
                                      ("Neutral", "Neutral", "Neutral"))
    # 2 extractions + a2r + r2a + 3 chunks x 2 claim sets
    assert result.calls == 10
    assert score_queries([query]).metrics["precision"].value == 50.0


def test_requests_are_constrained_deterministic_and_uncached() -> None:
    script = ScriptedJudge(CLAIMS)
    judge(script).label("q1", "Q?", "alpha beta", "alpha delta", None)
    for body in script.bodies:
        assert body["response_format"]["type"] == "json_schema"
        assert body["temperature"] == 0.0 and body["seed"] == 42 and body["cache"] is False
    check = next(b for b in script.bodies if "labels" in json.dumps(b["response_format"]))
    labels = check["response_format"]["json_schema"]["schema"]["properties"]["labels"]
    assert labels["items"]["enum"] == list(LABELS) and labels["minItems"] == labels["maxItems"]
    upstream = ScriptedJudge(CLAIMS)
    judge(upstream, warden=False).label("q1", "Q?", "alpha beta", "alpha delta", None)
    assert all("cache" not in body for body in upstream.bodies)


def test_no_chunks_means_no_chunk_label_sets_and_repeats_use_new_seeds() -> None:
    script = ScriptedJudge(CLAIMS)
    result = judge(script, repeat=3).label("q1", "Q?", "alpha beta", "alpha delta", None)
    assert len(result.labellings) == 3
    assert all(q.retrieved2response is None for q in result.labellings)
    checks = [(b["seed"], b["temperature"]) for b in script.bodies
              if b["messages"][0]["content"].startswith("You check")]
    assert sorted(set(checks)) == [(42, 0.0), (43, 0.7), (44, 0.7)]
    extractions = [b for b in script.bodies if b["messages"][0]["content"].startswith("You ex")]
    assert len(extractions) == 2  # claims are extracted once and re-labelled


def test_empty_response_has_no_claims_and_no_calls_for_it() -> None:
    script = ScriptedJudge(CLAIMS)
    result = judge(script).label("q1", "Q?", "", "alpha delta", ["alpha"])
    assert result.response_claims == () and result.labellings[0].answer2response == ()
    assert result.labellings[0].retrieved2response == ()


def test_truncated_or_malformed_answers_are_item_errors() -> None:
    truncated = judge(ScriptedJudge(CLAIMS, finish="length")).label(
        "q1", "Q?", "alpha beta", "alpha delta", None)
    assert truncated.labellings == () and "cut off" in (truncated.error or "")

    def wrong_count(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        content = {"claims": ["a b", "c d"]} if body["messages"][0]["content"].startswith(
            "You extract") else {"labels": ["Entailment"]}
        return httpx.Response(200, json={"choices": [{"message": {
            "content": json.dumps(content)}, "finish_reason": "stop"}]})

    endpoint = HttpEndpoint("http://j", None, transport=httpx.MockTransport(wrong_count))
    result = ClaimJudge(endpoint, JudgeSettings("m", "builtin")).label("q", "Q", "x", "y", None)
    assert "expected 2 labels" in (result.error or "")


def test_pin_names_model_hash_and_prompt_hash() -> None:
    pin = JudgeSettings("m", "http://vllm/v1", "c" * 64, False, 2).pin()
    assert pin.extractor == pin.checker == "m@sha256:" + "c" * 64
    assert pin.settings["prompt_hash"] == judge_prompt_hash(6)
    assert pin.settings["repeat"] == 2 and pin.settings["endpoint"] == "http://vllm/v1"
    assert judge_prompt_hash(6) != judge_prompt_hash(5)
