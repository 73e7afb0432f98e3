"""The rollouts: section: every mistake names its key path and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from warden.config import WardenConfig

MODEL = "smollm2-135m-instruct"


def config(rollouts: dict[str, Any]) -> WardenConfig:
    return WardenConfig.model_validate({"rollouts": rollouts})


def test_arms_must_name_configured_models_and_defined_prompts() -> None:
    with pytest.raises(ValidationError) as error:
        config({"models": {"assistant": {"champion": {"model": "gpt-9"},
                                          "challenger": {"model": MODEL, "prompt": "v9"}}}})
    text = str(error.value)
    assert "rollouts.models.assistant.champion.model: 'gpt-9' is not a configured model" in text
    assert "rollouts.models.assistant.challenger.prompt: 'v9' is not defined" in text


def test_a_valid_rollout_loads_with_its_defaults() -> None:
    loaded = config({"prompts": {"v2": {"system": "Be brief."}},
                     "models": {"assistant": {"champion": {"model": MODEL},
                                              "challenger": {"model": MODEL, "prompt": "v2",
                                                             "indexes": {"docs": 4}}}}})
    rollout = loaded.rollouts.models["assistant"]
    assert (rollout.share, rollout.mode, rollout.canary.min_samples) == (0.1, "ab", 50)
    assert rollout.challenger is not None and rollout.challenger.indexes == {"docs": 4}


@pytest.mark.parametrize(("rollouts", "fragment"), [
    ({"models": {"a@b": {"champion": {"model": MODEL}}}}, "not a valid name"),
    ({"models": {"a": {"champion": {"model": MODEL, "indexes": {"docs": 0}}}}},
     "versions start at 1"),
    ({"models": {"a": {"champion": {"model": MODEL}, "share": 1.5}}}, "less than or equal"),
    ({"models": {"a": {"champion": {"model": MODEL}, "mode": "canary"}}}, "'ab' or 'shadow'"),
    ({"schedules": {"drift": {"at": "02:00", "every_s": 60}}}, "set either at"),
    ({"schedules": {"nightly_smoke": {"at": "25:00"}}}, "should match pattern"),
    ({"models": {"a": {"champion": {"model": MODEL},
                       "canary": {"confidence": 0.8, "marginal_confidence": 0.9}}}},
     "marginal_confidence must be below confidence"),
])
def test_bad_values_are_refused(rollouts: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        config(rollouts)
