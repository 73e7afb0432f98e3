from __future__ import annotations

import pytest

from warden.safety.policy import DEFAULT_ACTIONS, Finding, Policy, Verdict, decide


def f(category: str, label: str = "X") -> Finding:
    return Finding(category, 0, 1, 0.9, "test", label)  # type: ignore[arg-type]


def test_defaults_match_the_issue() -> None:
    assert dict(DEFAULT_ACTIONS) == {"pii": "redact", "toxicity": "block",
                                     "crisis": "escalate", "injection": "block",
                                     "encoded_text": "block"}
    assert Policy().ner is True


def test_no_findings_allows() -> None:
    verdict = decide([], Policy())
    assert verdict == Verdict("allow", ())
    assert verdict.allowed


@pytest.mark.parametrize(("categories", "expected"), [
    (["pii"], "redact"),
    (["pii", "toxicity"], "block"),
    (["injection", "pii"], "block"),
    (["pii", "toxicity", "crisis"], "escalate"),
    (["crisis", "injection"], "escalate"),
])
def test_strongest_action_wins(categories: list[str], expected: str) -> None:
    verdict = decide([f(c) for c in categories], Policy())
    assert verdict.action == expected
    assert verdict.categories == tuple(sorted(set(categories)))
    assert verdict.allowed is (expected in ("allow", "redact"))


def test_per_tier_overrides() -> None:
    lenient = Policy.from_mapping({"toxicity": "allow", "pii": "allow"}, ner=False)
    assert decide([f("toxicity"), f("pii")], lenient).action == "allow"
    assert lenient.action_for("crisis") == "escalate"  # untouched categories keep defaults
    assert lenient.ner is False
    strict = Policy.from_mapping({"pii": "block"})
    assert decide([f("pii")], strict).action == "block"


def test_invalid_policy_is_rejected_with_the_culprit_named() -> None:
    with pytest.raises(ValueError, match="nsfw"):
        Policy.from_mapping({"nsfw": "block"})
    with pytest.raises(ValueError, match="delete"):
        Policy.from_mapping({"pii": "delete"})


def test_finding_validates_category_and_span() -> None:
    # Categories are open (operator-defined ones exist), but must be well-formed names.
    assert Finding("spam", 0, 1, 1.0, "t", "X").category == "spam"
    with pytest.raises(ValueError, match="bad category name"):
        Finding("Spam!", 0, 1, 1.0, "t", "X")
    with pytest.raises(ValueError):
        Finding("pii", 5, 2, 1.0, "t", "X")
    assert Finding("pii", 1, 3, 1.0, "t", "X").shifted(10) == Finding("pii", 11, 13, 1.0, "t", "X")
