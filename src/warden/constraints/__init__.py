"""Decoding constraints: token masks applied to the logits between llama_decode and sampling.

`ConstraintFactory(model_path).json_schema(schema)` gives a per-sequence `TokenConstraint`
that only lets the model write JSON valid for `schema` (llguidance under the hood).
See base.py for the contract every constraint follows, and how several compose.
"""

from warden.constraints.base import (
    ConstraintError,
    ConstraintViolation,
    LogitsLike,
    NoTokenAllowed,
    SchemaRejected,
    TokenConstraint,
    apply_all,
    logits_view,
)
from warden.constraints.json_schema import ConstraintFactory, JsonFormat, JsonSchemaConstraint
from warden.constraints.limits import SchemaLimits, check_schema

__all__ = [
    "ConstraintError",
    "ConstraintFactory",
    "ConstraintViolation",
    "JsonFormat",
    "JsonSchemaConstraint",
    "LogitsLike",
    "NoTokenAllowed",
    "SchemaLimits",
    "SchemaRejected",
    "TokenConstraint",
    "apply_all",
    "check_schema",
    "logits_view",
]
