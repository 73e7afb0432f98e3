"""Structured features of a situation: the vectors the few-shot KNN compares.

Situations are records, not prose: what decides them is the action, the role, how far each
trust dimension reaches and the context flags. A sentence embedding of their text rendering
blurs exactly those (measured on the dev set, docs/advisory.md: nearest-example accuracy 48%
with MiniLM, 56% with these features, same 40-example pool). The vector is generic: one-hot
action type, role (as the rules file maps it), the trust level of the weakest dimension and
of each dimension (the rules file's scale), and each context key=value hashed into buckets;
it knows no policy clause.

The KNN works on TextItem texts, so a situation travels as `key_text()` (canonical JSON
without the actor id: the same situation for another person is the same example) and
`embed` turns those texts back into vectors.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import numpy.typing as npt

from warden.config.advisory import ACTION_TYPES
from warden.policy.rules import RulesEngine
from warden.policy.situation import Situation, TrustLevel

CONTEXT_BUCKETS = 64
_LEVELS = (TrustLevel.HIGH, TrustLevel.MEDIUM, TrustLevel.LOW)
_DIMENSIONS = ("competence", "reliability", "integrity")
# Weights: the action and the role separate situations more than any single flag.
_ACTION_WEIGHT, _ROLE_WEIGHT, _TRUST_WEIGHT, _DIMENSION_WEIGHT, _CONTEXT_WEIGHT = (
    2.0, 1.5, 1.5, 0.5, 1.0)


def key_text(situation: Situation) -> str:
    plain = situation.plain()
    plain.pop("actor_id", None)
    return json.dumps(plain, sort_keys=True, separators=(",", ":"))


def _bucket(key: str, value: object) -> int:
    digest = hashlib.sha256(f"{key}={json.dumps(value, sort_keys=True)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % CONTEXT_BUCKETS


class SituationFeatures:
    def __init__(self, rules: RulesEngine) -> None:
        self.rules = rules
        self.roles = list(rules.spec.roles.known)
        self.dim = (len(ACTION_TYPES) + len(self.roles) + len(_LEVELS)
                    + len(_DIMENSIONS) * len(_LEVELS) + CONTEXT_BUCKETS)

    def vector(self, situation: Situation) -> npt.NDArray[np.float64]:
        out = np.zeros(self.dim)
        scale, at = self.rules.scale, 0
        out[at + ACTION_TYPES.index(situation.action_type)] = _ACTION_WEIGHT
        at += len(ACTION_TYPES)
        out[at + self.roles.index(self.rules.role_of(situation))] = _ROLE_WEIGHT
        at += len(self.roles)
        out[at + _LEVELS.index(scale.level(situation.trust_score))] = _TRUST_WEIGHT
        at += len(_LEVELS)
        for number, name in enumerate(_DIMENSIONS):
            level = scale.level(getattr(situation.t3_tensor, name))
            out[at + number * len(_LEVELS) + _LEVELS.index(level)] = _DIMENSION_WEIGHT
        at += len(_DIMENSIONS) * len(_LEVELS)
        for key, value in situation.context.items():
            out[at + _bucket(key, value)] += _CONTEXT_WEIGHT
        return out

    def embed(self, texts: list[str]) -> npt.NDArray[np.float64]:
        """Vectors of key_text() texts (the KNN's embed callable)."""
        rows = [self.vector(Situation.model_validate({**json.loads(t), "actor_id": "-"}))
                for t in texts]
        return np.array(rows) if rows else np.zeros((0, self.dim))
