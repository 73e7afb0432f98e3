"""The claim judge: RAGChecker's extractor and checker over any OpenAI-compatible endpoint.

RAGChecker's protocol: extract claims from the response and from the ground-truth answer;
check each response claim against the gt answer (answer2response) and against each retrieved
chunk (retrieved2response), and each gt claim against the response (response2answer) and
each chunk (retrieved2answer). A label is Entailment, Neutral or Contradiction. The output is
RAGChecker's checking structure (`CheckedQuery`), scored by `ragchecker.score_queries`.

Every call uses constrained decoding (`response_format: json_schema`), so the answer always
parses; claims are checked in one call per reference with exactly one label per claim.
`--judge builtin` is the Warden under test (its built-in 135M model: a weak judge, the report
says so); `--judge URL` is any OpenAI-compatible server (a large vLLM-served model in
production). Repeats (`--judge-repeat N`) reuse the claims and re-label them with seeds
42, 43, ...: the first labelling at temperature 0 gives the metrics, the others are sampled
at `repeat_temperature` and measure the judge's noise (judge_noise.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warden.evaluation.client import EndpointError, HttpEndpoint
from warden.evaluation.manifest import JudgePin
from warden.evaluation.prompt import sha256_json
from warden.evaluation.ragchecker_input import CheckedQuery

LABELS = ("Entailment", "Neutral", "Contradiction")
JUDGE_VERSION = "warden-judge/1"
SEED = 42
EXTRACT_SYSTEM = (
    "You extract factual claims. A claim is one short, self-contained statement of fact that "
    "can be checked on its own; use the question to resolve what 'it' refers to. Copy facts, "
    "do not add any. If the text states no fact (for example it only says the answer is not "
    "known), return an empty list.")
CHECK_SYSTEM = (
    "You check claims against a reference text. For each numbered claim give one label: "
    "Entailment if the reference supports the claim, Contradiction if the reference "
    "contradicts it, Neutral if the reference does neither. Judge only by the reference.")
WEAK_JUDGE_NOTE = ("The built-in judge is the 135M-parameter model under test: its claims and "
                   "labels are weak and its claim-level metrics are indicative only. Use "
                   "--judge URL with a strong model (e.g. a vLLM-served 70B) for release "
                   "decisions.")


class JudgeError(ValueError):
    """The judge answered something unusable (wrong shape, truncated, wrong count)."""


def extract_schema(max_claims: int) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["claims"],
            "properties": {"claims": {"type": "array", "maxItems": max_claims,
                                      "items": {"type": "string", "maxLength": 200}}}}


def check_schema(n_claims: int) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["labels"],
            "properties": {"labels": {"type": "array", "minItems": n_claims,
                                      "maxItems": n_claims,
                                      "items": {"type": "string", "enum": list(LABELS)}}}}


def judge_prompt_hash(max_claims: int) -> str:
    return sha256_json({"version": JUDGE_VERSION, "extract": EXTRACT_SYSTEM,
                        "check": CHECK_SYSTEM, "extract_schema": extract_schema(max_claims),
                        "check_schema": check_schema(1)})


@dataclass(frozen=True)
class JudgeSettings:
    model: str
    endpoint_label: str  # "builtin" or the URL, for the pin
    model_sha256: str | None = None
    warden: bool = True  # the endpoint is a Warden: send cache: false
    repeat: int = 1
    repeat_temperature: float = 0.7
    max_claims: int = 6
    extract_max_tokens: int = 256
    items_limit: int | None = None  # only the first N answered items are judged

    def pin(self) -> JudgePin:
        name = self.model + (f"@sha256:{self.model_sha256}" if self.model_sha256 else "")
        return JudgePin(extractor=name, checker=name, tool=JUDGE_VERSION, settings={
            "endpoint": self.endpoint_label, "model": self.model,
            "model_sha256": self.model_sha256, "prompt_hash": judge_prompt_hash(
                self.max_claims), "seed": SEED, "temperature": 0.0, "repeat": self.repeat,
            "repeat_temperature": self.repeat_temperature, "max_claims": self.max_claims,
            "items_limit": self.items_limit})


@dataclass(frozen=True)
class Judgement:
    """One item's claims and its N labellings (RAGChecker's checking structure)."""

    item_id: str
    response_claims: tuple[str, ...] = ()
    gt_answer_claims: tuple[str, ...] = ()
    labellings: tuple[CheckedQuery, ...] = ()
    error: str | None = None
    calls: int = 0

    def plain(self) -> dict[str, Any]:
        first = self.labellings[0] if self.labellings else None
        return {"response_claims": list(self.response_claims),
                "gt_answer_claims": list(self.gt_answer_claims),
                "answer2response": None if first is None else first.answer2response,
                "response2answer": None if first is None else first.response2answer,
                "retrieved2response": None if first is None else first.retrieved2response,
                "retrieved2answer": None if first is None else first.retrieved2answer,
                "repeats": len(self.labellings), "error": self.error, "calls": self.calls}


def _content(body: dict[str, Any]) -> str:
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeError(f"not a chat completion: {str(body)[:200]}") from None
    if choice.get("finish_reason") == "length":
        raise JudgeError("the judge's JSON was cut off at max_tokens")
    return str(text or "")


class ClaimJudge:
    def __init__(self, endpoint: HttpEndpoint, settings: JudgeSettings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.calls = 0

    def _ask(self, system: str, user: str, schema: dict[str, Any], *, max_tokens: int,
             seed: int, temperature: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model, "max_tokens": max_tokens, "seed": seed,
            "temperature": temperature,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": user}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "judgement", "schema": schema}}}
        if self.settings.warden:
            body["cache"] = False
        self.calls += 1
        text = _content(self.endpoint.call("POST", "/chat/completions", json=body))
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JudgeError(f"the judge's answer is not JSON ({exc.msg}): {text[:120]!r}"
                             ) from None
        if not isinstance(parsed, dict):
            raise JudgeError(f"expected a JSON object, got {text[:120]!r}")
        return parsed

    def extract(self, question: str, text: str) -> tuple[str, ...]:
        if not text.strip():
            return ()
        answer = self._ask(EXTRACT_SYSTEM, f"Question: {question}\n\nText:\n{text}",
                           extract_schema(self.settings.max_claims),
                           max_tokens=self.settings.extract_max_tokens, seed=SEED,
                           temperature=0.0)
        claims = answer.get("claims")
        if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
            raise JudgeError(f"claims must be a list of strings, got {claims!r}")
        unique = dict.fromkeys(c.strip() for c in claims if c.strip())
        return tuple(unique)[: self.settings.max_claims]

    def check(self, claims: Sequence[str], reference: str, seed: int, temperature: float
              ) -> tuple[str, ...]:
        if not claims:
            return ()
        numbered = "\n".join(f"{i}. {claim}" for i, claim in enumerate(claims, start=1))
        answer = self._ask(CHECK_SYSTEM, f"Reference:\n{reference}\n\nClaims:\n{numbered}",
                           check_schema(len(claims)), max_tokens=16 + 8 * len(claims),
                           seed=seed, temperature=temperature)
        labels = answer.get("labels")
        if not isinstance(labels, list) or len(labels) != len(claims) or \
                not all(label in LABELS for label in labels):
            raise JudgeError(f"expected {len(claims)} labels from {', '.join(LABELS)}, got "
                             f"{labels!r}")
        return tuple(labels)

    def _by_chunk(self, claims: Sequence[str], chunks: Sequence[str], seed: int,
                  temperature: float) -> tuple[tuple[str, ...], ...]:
        """[claim][chunk] labels: one check call per chunk, transposed."""
        columns = [self.check(claims, chunk, seed, temperature) for chunk in chunks]
        return tuple(tuple(column[i] for column in columns) for i in range(len(claims)))

    def label(self, item_id: str, question: str, response: str, gt_answer: str,
              chunks: Sequence[str] | None) -> Judgement:
        """Claims once, then `repeat` labellings; chunks None: chunk label sets absent."""
        start = self.calls
        try:
            response_claims = self.extract(question, response)
            gt_claims = self.extract(question, gt_answer)
            labellings = []
            for r in range(self.settings.repeat):
                seed = SEED + r
                temperature = 0.0 if r == 0 else self.settings.repeat_temperature
                a2r = self.check(response_claims, gt_answer, seed, temperature)
                r2a = self.check(gt_claims, response, seed, temperature)
                ret2resp = ret2ans = None
                if chunks is not None:
                    ret2resp = self._by_chunk(response_claims, chunks, seed, temperature)
                    ret2ans = self._by_chunk(gt_claims, chunks, seed, temperature)
                labellings.append(CheckedQuery(item_id, a2r, r2a, ret2resp, ret2ans))
        except (EndpointError, JudgeError) as exc:
            return Judgement(item_id, error=str(exc), calls=self.calls - start)
        return Judgement(item_id, response_claims, gt_claims, tuple(labellings),
                         calls=self.calls - start)

    def probe(self) -> str:
        """A tiny extraction and check; the health gate's detail, or raises."""
        claims = self.extract("What colour is the sky?", "The sky is blue.")
        labels = self.check(claims or ("The sky is blue.",), "The sky is blue.", SEED, 0.0)
        return (f"{self.settings.model} at {self.settings.endpoint_label}: "
                f"{len(claims)} claim(s), labels {', '.join(labels)}")
