"""Operator-defined categories: config, training at start-up, policy, findings, evidence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from warden.config.models import SafetyConfig, WardenConfig
from warden.safety.custom import CategoryDefinition, OperatorCategoryDetector, read_examples
from warden.safety.pipeline import GuardPipeline
from warden.safety.policy import Policy

# The stand-in embedder below knows words, not meanings: the positives share "fruit".
FRUIT = [f"{q} fruit {w}" for q, w in zip(
    ["Tell me about the", "Is this", "Best way to ripen", "Calories in", "Recipe with",
     "Are these good", "Why is my", "Peel the", "How long to store", "Jam from this",
     "Which", "Benefits of dried"],
    ["apples", "banana", "mangoes", "orange", "pears", "grapes", "kiwi", "pineapple",
     "cherries", "plums", "bakes best", "figs"], strict=True)]
OTHER = ["Fix my python loop", "What time is it in Tokyo", "Write a haiku about rain",
         "Explain TCP handshakes", "Book a table for two", "How do magnets work",
         "Translate hello to German", "Summarise this meeting", "Plan a trip to Rome",
         "Tips for a job interview", "What is a mortgage", "How tall is Everest"]


class WordEmbedder:
    """A deterministic stand-in for MiniLM: bag of hashed words, unit length."""

    dim = 384

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture(scope="module")
def fruit() -> OperatorCategoryDetector:
    definition = CategoryDefinition(name="fruit", description="Questions about fruit.",
                                    positives=tuple(FRUIT), negatives=tuple(OTHER),
                                    action="escalate", stages=("input", "output"),
                                    target_fpr=0.1)
    detector = OperatorCategoryDetector(definition, embedder=WordEmbedder())
    detector.load()
    return detector


def test_a_category_is_trained_and_thresholded_like_the_builtins(
        fruit: OperatorCategoryDetector) -> None:
    card = fruit.head.card
    assert card["rows"]["own"] == len(FRUIT) + len(OTHER)
    assert card["validation"]["fpr"]["value"] <= 0.1
    assert fruit.scan("Are apples a good fruit for jam?")
    assert fruit.scan("Explain how TCP works") == []


def test_findings_actions_and_stages_follow_the_config(fruit: OperatorCategoryDetector) -> None:
    pipeline = GuardPipeline([fruit])
    assert pipeline.policy.action_for("fruit") == "escalate"
    verdict = pipeline.check_input("Which fruit bakes best in a pie?").verdict
    assert verdict.action == "escalate" and verdict.categories == ("fruit",)
    assert {f.detector for f in verdict.findings} == {"fruit.classifier"}
    assert pipeline.check_output("Try a ripe fruit like mangoes.").action == "escalate"
    lenient = pipeline.with_policy(pipeline.policy_for({"fruit": "allow"}))
    assert lenient.check_input("Which fruit bakes best?").verdict.action == "allow"


def test_a_tier_naming_an_undefined_category_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"unknown category 'bias'.*safety.categories"):
        GuardPipeline([]).policy_for({"bias": "block"})
    assert Policy.from_mapping({"bias": "block"}, defaults={"bias": "allow"}).action_for(
        "bias") == "block"


def test_config_validation_names_the_field_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="built-in category"):
        SafetyConfig.model_validate({"categories": [
            {"name": "toxicity", "description": "x", "positives": ["a"], "negatives": ["b"]}]})
    with pytest.raises(ValidationError, match="examples_file or both"):
        SafetyConfig.model_validate({"categories": [{"name": "x", "description": "d"}]})
    with pytest.raises(ValidationError, match="unique"):
        SafetyConfig.model_validate({"categories": [
            {"name": "x", "description": "d", "examples_file": "a.jsonl"}] * 2})
    config = WardenConfig.model_validate({
        "safety": {"categories": [{"name": "bias", "description": "d",
                                   "examples_file": "x.jsonl"}]},
        "tiers": {"default": {"safety": {"actions": {"bias": "escalate"}}}}})
    assert config.safety.category_names() >= {"bias", "pii"}
    missing = CategoryDefinition(name="gone", description="d",
                                 examples_file=str(tmp_path / "none.jsonl"))
    with pytest.raises(ValueError, match=r"examples_file.*does not exist"):
        OperatorCategoryDetector(missing, embedder=WordEmbedder()).load()
    few = CategoryDefinition(name="few", description="d", positives=("a",), negatives=("b",))
    with pytest.raises(ValueError, match="at least 10 positive"):
        OperatorCategoryDetector(few, embedder=WordEmbedder()).load()


def test_examples_files_in_both_formats(tmp_path: Path) -> None:
    jsonl = tmp_path / "ex.jsonl"
    jsonl.write_text('{"text": "a", "label": 1}\n{"messages": [{"role": "user", '
                     '"content": "b"}], "label": 0}\n', encoding="utf-8")
    assert read_examples(jsonl) == [("a", 1), ("b", 0)]
    lines = tmp_path / "ex.txt"
    lines.write_text("# comment\n+ yes\n- no\n", encoding="utf-8")
    assert read_examples(lines) == [("yes", 1), ("no", 0)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_examples(bad)
