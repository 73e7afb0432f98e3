"""Red-team cases: the YAML model, loading and validation.

A case file holds a list of cases (or `{cases: [...]}`). A case is one request, or several
`steps` for multi-step protocols (dry run -> confirm -> replay), each with its own `expect`.
Values saved from one step's JSON (`save: {token: confirmation_token}`) are used in later
steps as `${token}`, or `${token|altered}` / `${line|next}` (see checks.render).

Errors name the file, the case and the field, so a typo in a case never looks like a server
failure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SHIPPED_CASES = Path(__file__).resolve().parent / "cases"
FIXTURE_CORPUS = Path(__file__).resolve().parent / "corpus"

Auth = Literal["user", "admin", "none"]
_PATH = re.compile(r"^[A-Za-z0-9_\-]+(?:\[[A-Za-z0-9_\-]+=[^\]]*\])?"
                   r"(?:\.[A-Za-z0-9_\-]+(?:\[[A-Za-z0-9_\-]+=[^\]]*\])?)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Request(_Strict):
    method: Literal["GET", "POST"] = "POST"
    path: str = Field(..., pattern=r"^/", description="Path on the server, e.g. /v1/generate.")
    json_body: Any = Field(None, alias="json", description="The JSON body (POST).")
    headers: dict[str, str] = Field(default_factory=dict)
    auth: Auth = Field("user", description="Which key to send: the user key (--key), the "
                       "admin key (--admin-key; the case is skipped without it) or none.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class JsonCheck(_Strict):
    """One assertion on a dotted path of the JSON body (`a.b.0.c`, `data[active=true].x`)."""

    path: str
    equals: Any = None
    one_of: list[Any] | None = None
    exists: bool | None = None
    gte: float | None = None
    lte: float | None = None
    contains: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _PATH.match(value):
            raise ValueError(f"'{value}' is not a dotted path like 'a.b.0' or 'data[k=v].x'")
        return value

    @model_validator(mode="after")
    def _one_assertion(self) -> JsonCheck:
        given = [name for name in ("one_of", "exists", "gte", "lte", "contains")
                 if getattr(self, name) is not None]
        if "equals" in self.model_fields_set:
            given.append("equals")
        if not given:
            raise ValueError(f"json check on '{self.path}' asserts nothing: add one of equals, "
                             "one_of, exists, gte, lte, contains")
        return self


class Expect(_Strict):
    """Everything listed must hold; an omitted key is not checked."""

    status: list[int] = Field(..., min_length=1, description="Allowed HTTP statuses.")
    error_code: list[str] | None = Field(None, description="error.code is one of these.")
    error_param: str | None = Field(None, description="error.param equals this.")
    error_message_contains: list[str] = Field(default_factory=list, description="Each "
                                              "string appears in error.message "
                                              "(case-insensitive).")
    finish_reason: list[str] | None = Field(None, description="The first choice's (or "
                                            "/v1/generate's) finish_reason is one of these.")
    body_contains: list[str] = Field(default_factory=list)
    body_not_contains: list[str] = Field(default_factory=list, description="Checked on the "
                                         "raw body, case-insensitive (SSE streams included).")
    json_checks: list[JsonCheck] = Field(default_factory=list, alias="json")
    no_pii_in_output: bool = Field(False, description="The model's output text holds nothing "
                                   "the PII pattern detector finds.")
    citations_not_from: list[str] = Field(default_factory=list, description="fnmatch globs; "
                                          "no citation's source file name matches one.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("status", mode="before")
    @classmethod
    def _status_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("error_code", "finish_reason", "error_message_contains", "body_contains",
                     "body_not_contains", "citations_not_from", mode="before")
    @classmethod
    def _str_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Step(_Strict):
    name: str = Field(..., pattern=r"^[a-z0-9_\-]+$")
    request: Request
    expect: Expect
    save: dict[str, str] = Field(default_factory=dict, description="variable -> JSON path of "
                                 "this step's body, for later steps' ${variable}.")


class SkipWhen(_Strict):
    """Report the case as skipped (with `reason` and the server's message) when a step's
    answer carries one of these error codes: the server lacks what the case needs."""

    error_code: list[str] = Field(..., min_length=1)
    reason: str = Field(..., min_length=1)


class Requires(_Strict):
    tools: list[str] = Field(default_factory=list, description="Tools that GET /v1/tools must "
                             "list for the user key; otherwise the case is skipped.")


class Case(_Strict):
    id: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_\-.]{0,79}$")
    category: str = Field(..., pattern=r"^[a-z][a-z_]{0,39}$")
    description: str = Field(..., min_length=1)
    request: Request | None = None
    expect: Expect | None = None
    steps: list[Step] = Field(default_factory=list)
    requires: Requires = Requires()
    skip_when: SkipWhen | None = None
    known_gap: str | None = Field(None, min_length=1, description="A weakness we know of: a "
                                  "failure is reported as 'known_gap', not 'failed'.")

    @model_validator(mode="after")
    def _shape(self) -> Case:
        if self.steps and (self.request is not None or self.expect is not None):
            raise ValueError("give either request + expect, or steps, not both")
        if not self.steps and (self.request is None or self.expect is None):
            raise ValueError("a case needs request and expect (or steps)")
        names = [s.name for s in self.steps]
        if len(names) != len(set(names)):
            raise ValueError(f"step names must be unique, got {names}")
        return self

    def all_steps(self) -> list[Step]:
        if self.steps:
            return list(self.steps)
        assert self.request is not None and self.expect is not None
        return [Step(name="request", request=self.request, expect=self.expect)]

    @property
    def needs_admin(self) -> bool:
        return any(s.request.auth == "admin" for s in self.all_steps())


class CaseError(Exception):
    """A case file that cannot be used; the message names the file and the field."""


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(case)"


def parse_cases(raw: Any, source: str) -> list[Case]:
    """Validate the parsed YAML of one file."""
    if isinstance(raw, dict) and set(raw) == {"cases"}:
        raw = raw["cases"]
    if not isinstance(raw, list):
        raise CaseError(f"{source}: expected a list of cases (or {{cases: [...]}}), got "
                        f"{type(raw).__name__}")
    cases: list[Case] = []
    for index, item in enumerate(raw):
        label = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) \
            else f"#{index}"
        try:
            cases.append(Case.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            msg = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                msg = "unknown field; check its spelling (see docs/redteam.md)"
            raise CaseError(f"{source}: case {label}: {_location(first['loc'])}: {msg}") \
                from None
    return cases


def load_cases(directory: Path) -> list[Case]:
    """Every *.yaml / *.yml under `directory`, in file-name order; ids must be unique."""
    if not directory.is_dir():
        raise CaseError(f"{directory}: not a directory of case files")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise CaseError(f"{directory}: no *.yaml case files")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise CaseError(f"{path}:{where} invalid YAML: "
                            f"{getattr(exc, 'problem', None) or exc}") from None
        for case in parse_cases(raw, str(path)):
            if case.id in seen:
                raise CaseError(f"{path}: case {case.id}: id already used in {seen[case.id]}")
            seen[case.id] = str(path)
            cases.append(case)
    return cases
