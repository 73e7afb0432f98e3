"""What detectors report (`Finding`), the per-tier `Policy`, and what it makes of the
findings (`Verdict`).

Categories are open: the five built-ins plus any an operator defines in `warden.yaml`
(`safety.categories`, see `warden.safety.custom`). A policy knows which names exist, so a
tier that names a category nobody defined is an error at start-up, not a silent allow.

Everything here is pure: no models, no I/O, so the API, the streaming guard and the tests can
share it without loading anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

# A built-in ("pii", "toxicity", "crisis", "injection", "encoded_text") or an operator-defined
# name. `encoded_text` is readable text hidden in an encoding in the user's own turn
# (warden.safety.detectors.encoded_text).
Category = str
Action = Literal["allow", "redact", "block", "escalate"]

BUILTIN_CATEGORIES: tuple[Category, ...] = ("pii", "toxicity", "crisis", "injection",
                                            "encoded_text")
CATEGORIES = BUILTIN_CATEGORIES
ACTIONS: tuple[Action, ...] = get_args(Action)
CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Index = strength: when several categories fire, the strongest action wins.
_STRENGTH: dict[Action, int] = {a: i for i, a in enumerate(ACTIONS)}

DEFAULT_ACTIONS: Mapping[Category, Action] = {
    "pii": "redact", "toxicity": "block", "crisis": "escalate", "injection": "block",
    "encoded_text": "block",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection: `text[start:end]` looks like `label` (of `category`) to `detector`."""

    category: Category
    start: int
    end: int
    score: float
    detector: str
    label: str

    def __post_init__(self) -> None:
        if not isinstance(self.category, str) or not CATEGORY_NAME.match(self.category):
            raise ValueError(f"bad category name {self.category!r}: lowercase letters, digits "
                             "and '_', starting with a letter")
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span {self.start}..{self.end}")

    def shifted(self, offset: int) -> Finding:
        """The same finding for a text that starts `offset` characters earlier."""
        return Finding(self.category, self.start + offset, self.end + offset, self.score,
                       self.detector, self.label)


@dataclass(frozen=True, slots=True)
class Policy:
    """Per-tier safety policy: what each category leads to, and whether NER runs.

    `known` is every category that exists (built-ins plus operator-defined ones); naming any
    other is an error. `ner=False` drops person-name detection (spaCy NER) which costs ~20
    ms per KB on CPU; the pattern detectors for every other PII type still run.
    """

    actions: Mapping[Category, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    ner: bool = True
    known: frozenset[Category] = frozenset(BUILTIN_CATEGORIES)

    def __post_init__(self) -> None:
        for category, action in self.actions.items():
            if category not in self.known:
                raise ValueError(
                    f"policy names unknown category {category!r}; known: "
                    f"{sorted(self.known)} (define it under safety.categories in warden.yaml)")
            if action not in ACTIONS:
                raise ValueError(f"policy action for {category!r} must be one of {ACTIONS}, "
                                 f"not {action!r}")

    @classmethod
    def from_mapping(cls, actions: Mapping[str, str] | None = None, *, ner: bool = True,
                     defaults: Mapping[str, str] | None = None) -> Policy:
        """Built-in defaults, then operator categories' `defaults`, then `actions` (e.g. a
        tier's config section); every category in `defaults` becomes known."""
        merged: dict[Category, Action] = dict(DEFAULT_ACTIONS)
        merged.update(defaults or {})  # type: ignore[arg-type]  # validated in __post_init__
        merged.update(actions or {})  # type: ignore[arg-type]
        known = frozenset(BUILTIN_CATEGORIES) | frozenset(defaults or ())
        return cls(actions=merged, ner=ner, known=known)

    def action_for(self, category: Category) -> Action:
        return self.actions.get(category, "allow")


def strongest(actions: Iterable[Action]) -> Action:
    return max(actions, key=_STRENGTH.__getitem__, default="allow")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's decision for one text (or one request): the action and why."""

    action: Action
    findings: tuple[Finding, ...] = ()
    redacted_text: str | None = None

    @property
    def categories(self) -> tuple[Category, ...]:
        return tuple(sorted({f.category for f in self.findings}))

    @property
    def allowed(self) -> bool:
        """True when the text may go on (possibly redacted)."""
        return self.action in ("allow", "redact")


def decide(findings: Sequence[Finding], policy: Policy) -> Verdict:
    action = strongest(policy.action_for(f.category) for f in findings)
    return Verdict(action=action, findings=tuple(findings))
