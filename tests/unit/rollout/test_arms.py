"""Arms and prompt versions: how a prompt version is applied, and what the hashes cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.config.rollouts import ArmConfig, PromptVersionConfig
from warden.engine.base import GenerationRequest, SamplingParams
from warden.rollout.arms import Arm, RolloutError, prompt_version, prompt_versions

SAMPLING = SamplingParams(max_tokens=8)


def chat(*messages: dict[str, str]) -> GenerationRequest:
    return GenerationRequest("r1", "m", SAMPLING, messages=tuple(messages))


def test_system_prompt_and_examples_lead_the_callers_system_message() -> None:
    version = prompt_version("v2", PromptVersionConfig(
        system="Be brief.", few_shot=[{"id": "e1", "question": "Q?", "answer": "A."}]))
    applied = version.apply(chat({"role": "system", "content": "Caller rules."},
                                 {"role": "user", "content": "hi"}))
    assert applied.messages is not None and len(applied.messages) == 2
    system = applied.messages[0]["content"]
    assert system.startswith("Be brief.\n\nExamples:\n\nQuestion: Q?\nAnswer: A.")
    assert system.endswith("\n\nCaller rules.")
    assert applied.messages[1] == {"role": "user", "content": "hi"}


def test_without_a_system_message_one_is_inserted_and_raw_prompts_are_prefixed() -> None:
    version = prompt_version("v", PromptVersionConfig(system="Be brief."))
    inserted = version.apply(chat({"role": "user", "content": "hi"}))
    assert inserted.messages == ({"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "hi"})
    raw = version.apply(GenerationRequest("r", "m", SAMPLING, prompt="Once"))
    assert raw.prompt == "Be brief.\n\nOnce"


def test_an_empty_prompt_version_changes_nothing() -> None:
    request = chat({"role": "user", "content": "hi"})
    assert prompt_version("empty", PromptVersionConfig()).apply(request) is request


def test_the_prompt_hash_covers_text_examples_and_template() -> None:
    base = prompt_version("a", PromptVersionConfig(system="x"))
    assert prompt_version("b", PromptVersionConfig(system="x")).hash == base.hash  # name-free
    assert prompt_version("a", PromptVersionConfig(system="y")).hash != base.hash
    with_example = PromptVersionConfig(system="x", few_shot=[
        {"id": "e", "question": "q", "answer": "a"}])
    assert prompt_version("a", with_example).hash != base.hash


def test_few_shot_file_is_read_and_its_errors_name_the_line(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"id": "p1", "question": "Q1", "answer": "A1"}\n\n')
    loaded = prompt_versions({"v": PromptVersionConfig(few_shot_file=str(pool))})["v"]
    assert [e.id for e in loaded.examples] == ["p1"]
    pool.write_text('{"id": "p1", "question": "Q1"}\n')
    with pytest.raises(RolloutError, match=r"pool.jsonl:1 is not a JSON object"):
        prompt_versions({"v": PromptVersionConfig(few_shot_file=str(pool))})
    with pytest.raises(RolloutError, match=r"rollouts\.prompts\.v\.few_shot_file: cannot read"):
        prompt_versions({"v": PromptVersionConfig(few_shot_file=str(tmp_path / "missing"))})


def test_the_arm_hash_covers_model_prompt_and_index_versions() -> None:
    arm = Arm("m", "v1", "h1", {"docs": 3})
    assert Arm.from_plain(arm.plain()) == arm and Arm.from_plain(arm.plain()).hash == arm.hash
    changed = [Arm("m2", "v1", "h1", {"docs": 3}), Arm("m", "v2", "h1", {"docs": 3}),
               Arm("m", "v1", "h2", {"docs": 3}), Arm("m", "v1", "h1", {"docs": 4}),
               Arm("m", "v1", "h1", {"docs": 3, "more": 1})]
    assert len({a.hash for a in changed} | {arm.hash}) == len(changed) + 1
    assert arm.with_indexes({"docs": 9, "other": 2}).indexes == {"docs": 3, "other": 2}


def test_an_arm_naming_an_undefined_prompt_is_refused() -> None:
    with pytest.raises(RolloutError, match="prompt 'nope' is not defined"):
        Arm.from_config(ArmConfig(model="m", prompt="nope"), {})
