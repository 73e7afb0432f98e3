"""The rules engine: the current policy engine in a YAML file (shipped default: data/rules.yaml).

    base:    ordered rules, the first that matches gives the base decision (else `default`)
    floors:  every floor that matches sets a minimum strictness
    result:  the strictest of the base decision and the matching floors

A rule matches when every condition of `when` holds, at least one mapping of `any` holds (if
given), and `unless` does not hold. A condition maps a field to a matcher:

    fields    action_type, role (unknown roles mapped by roles.unknown_as), trust (the
              weakest T3 dimension), trust_level, t3.competence|reliability|integrity,
              resource, context.<key>
    matchers  a value (equal; null = missing), a list (any of), or a mapping of operators,
              all of which must hold: lt, le, gt, ge (numbers), prefix (a string or a list)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from warden.policy.decision import Decision, strictest
from warden.policy.situation import Situation, TrustScale

SHIPPED_RULES = "rules.yaml"
_FIELDS = {"action_type", "role", "trust", "trust_level", "t3.competence", "t3.reliability",
           "t3.integrity", "resource"}
_NUMERIC_OPS = {"lt", "le", "gt", "ge"}
_OPS = _NUMERIC_OPS | {"prefix"}


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file, the rule and the field."""


def _check_condition(when: Mapping[str, Any]) -> Mapping[str, Any]:
    for field, matcher in when.items():
        if field not in _FIELDS and not field.startswith("context."):
            raise ValueError(f"unknown field '{field}'; use one of {sorted(_FIELDS)} or "
                             "context.<key>")
        if isinstance(matcher, dict):
            unknown = set(matcher) - _OPS
            if unknown or not matcher:
                raise ValueError(f"{field}: operators are {sorted(_OPS)}; got "
                                 f"{sorted(unknown) or 'none'}")
            for op in _NUMERIC_OPS & set(matcher):
                if isinstance(matcher[op], bool) or not isinstance(matcher[op], int | float):
                    raise ValueError(f"{field}.{op} needs a number, got {matcher[op]!r}")
    return when


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    id: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = Field(..., min_length=1, max_length=300)
    when: dict[str, Any] = Field(default_factory=dict)
    any: list[dict[str, Any]] = Field(default_factory=list)
    unless: dict[str, Any] = Field(default_factory=dict)
    decision: Decision

    @field_validator("when", "unless")
    @classmethod
    def _conditions(cls, value: dict[str, Any]) -> dict[str, Any]:
        return dict(_check_condition(value))

    @field_validator("any")
    @classmethod
    def _alternatives(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(_check_condition(item)) for item in value]


class Roles(_Strict):
    known: list[str] = Field(..., min_length=1)
    unknown_as: str

    @field_validator("unknown_as")
    @classmethod
    def _nonempty(cls, value: str) -> str:
        if not value:
            raise ValueError("roles.unknown_as must name a role, e.g. guest")
        return value


class Trust(_Strict):
    high: float = Field(0.7, gt=0, le=1)
    medium: float = Field(0.4, gt=0, lt=1)


class RulesFile(_Strict):
    version: int = Field(..., ge=1, le=1)
    name: str = Field(..., min_length=1, max_length=100)
    trust: Trust = Field(default_factory=Trust)
    roles: Roles
    base: list[Rule] = Field(..., min_length=1)
    default: Decision = Decision.DENY
    floors: list[Rule] = Field(default_factory=list)


@dataclass(frozen=True)
class RuleDecision:
    decision: Decision
    base_rule: str              # the id of the base rule that matched, or "default"
    floors: tuple[str, ...]     # ids of the floors that matched

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return (self.base_rule, *self.floors)


class RulesEngine:
    def __init__(self, spec: RulesFile, source: str, digest: str) -> None:
        self.spec = spec
        self.source = source
        self.sha256 = digest  # of the file's bytes: which rules decided is part of the record
        self.scale = TrustScale(spec.trust.high, spec.trust.medium)
        ids = [r.id for r in (*spec.base, *spec.floors)]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise RulesError(f"{source}: rule ids must be unique, repeated: {repeated}")
        if spec.roles.unknown_as not in spec.roles.known:
            raise RulesError(f"{source}: roles.unknown_as '{spec.roles.unknown_as}' is not one "
                             f"of roles.known {spec.roles.known}")

    def role_of(self, situation: Situation) -> str:
        role = situation.actor_role
        return role if role in self.spec.roles.known else self.spec.roles.unknown_as

    def decide(self, situation: Situation) -> RuleDecision:
        facts = self._facts(situation)
        base = next((r for r in self.spec.base if _matches(r, facts)), None)
        floors = tuple(r for r in self.spec.floors if _matches(r, facts))
        decision = strictest(base.decision if base else self.spec.default,
                             *(f.decision for f in floors))
        return RuleDecision(decision, base.id if base else "default",
                            tuple(f.id for f in floors))

    def _facts(self, situation: Situation) -> dict[str, Any]:
        t3 = situation.t3_tensor
        facts: dict[str, Any] = {
            "action_type": situation.action_type, "role": self.role_of(situation),
            "trust": situation.trust_score,
            "trust_level": self.scale.level(situation.trust_score).value,
            "t3.competence": t3.competence, "t3.reliability": t3.reliability,
            "t3.integrity": t3.integrity, "resource": situation.resource,
        }
        facts.update({f"context.{k}": v for k, v in situation.context.items()})
        return facts

    def summary(self, action_type: str | None = None) -> str:
        """The rules in words, for the advisor's prompt (the seed's 'rules summary'); with
        `action_type`, only the rules that can apply to it (a shorter prompt)."""
        base = [r for r in self.spec.base if _may_apply(r, action_type)]
        floors = [r for r in self.spec.floors if _may_apply(r, action_type)]
        lines = [f"Trust level: high if the weakest of competence, reliability and integrity "
                 f"is at least {self.scale.high}, medium if at least {self.scale.medium}, "
                 f"otherwise low. Unknown roles count as {self.spec.roles.unknown_as}.",
                 "Base decision (the first rule that fits):"]
        lines += [f"- {r.description} -> {r.decision.value}" for r in base]
        lines.append(f"- Anything else -> {self.spec.default.value}")
        if floors:
            lines.append("Then these make it stricter (the strictest decision wins):")
            lines += [f"- {r.description} -> at least {r.decision.value}" for r in floors]
        return "\n".join(lines)


def _may_apply(rule: Rule, action_type: str | None) -> bool:
    """False only when the rule's `when` names other action types."""
    if action_type is None or "action_type" not in rule.when:
        return True
    return _value_matches(rule.when["action_type"], action_type)


def _matches(rule: Rule, facts: Mapping[str, Any]) -> bool:
    if not _holds(rule.when, facts):
        return False
    if rule.any and not any(_holds(alt, facts) for alt in rule.any):
        return False
    return not (rule.unless and _holds(rule.unless, facts))


def _holds(condition: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    return all(_value_matches(matcher, facts.get(field)) for field, matcher in
               condition.items())


def _value_matches(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, list):
        return any(_value_matches(m, value) for m in matcher)
    if isinstance(matcher, dict):
        return all(_operator(op, arg, value) for op, arg in matcher.items())
    if isinstance(matcher, bool) or isinstance(value, bool):
        return value is matcher  # true must not equal 1
    return bool(value == matcher)


def _operator(op: str, arg: Any, value: Any) -> bool:
    if op == "prefix":
        prefixes: Sequence[Any] = arg if isinstance(arg, list) else [arg]
        return isinstance(value, str) and any(value.startswith(str(p)) for p in prefixes)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False  # a missing or non-numeric value satisfies no comparison
    number, bound = float(value), float(arg)
    return {"lt": number < bound, "le": number <= bound, "gt": number > bound,
            "ge": number >= bound}[op]


def parse_rules(text: str, source: str) -> RulesEngine:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RulesError(f"{source}: the rules file must be a mapping with version, name, "
                         "roles, base and floors")
    try:
        spec = RulesFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise RulesError(f"{source}: {problems}") from exc
    return RulesEngine(spec, source, hashlib.sha256(text.encode()).hexdigest())


def load_rules(path: str | Path | None = None) -> RulesEngine:
    """The rules at `path`, or the shipped defaults when it is None."""
    if path is None:
        text = resources.files("warden.policy").joinpath("data", SHIPPED_RULES).read_text()
        return parse_rules(text, f"<shipped {SHIPPED_RULES}>")
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise RulesError(f"advisory.current_engine.rules_file: cannot read {file}: "
                         f"{exc.strerror or exc}") from exc
    return parse_rules(text, str(file))
