"""The current policy engine the advisor shadows: the caller's own decision, the YAML rules,
or an external engine over HTTP in OPA's data-API shape.

    POST <url>/v1/data/<path>   {"input": <situation>}  ->  {"result": <decision>}

where the result is a decision string or an object with a "decision" field. An external
engine that fails (unreachable, slow, an undefined or malformed result) gives deny: the
current engine fails closed, and the failure is reported so it can be counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warden.config.advisory import CurrentEngineConfig, OpaConfig
from warden.policy.decision import Decision
from warden.policy.rules import RulesEngine
from warden.policy.situation import Situation

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CurrentDecision:
    decision: Decision
    source: str                    # "caller", "rules" or "opa"
    rule_ids: tuple[str, ...] = ()
    error: str | None = None       # why an external engine's answer was not used


class OpaError(Exception):
    pass


def opa_result_decision(body: Any) -> Decision:
    """The decision in an OPA data-API answer; OpaError names what was wrong."""
    if not isinstance(body, dict) or "result" not in body:
        raise OpaError("the answer has no 'result' (is the policy path defined?)")
    result = body["result"]
    if isinstance(result, dict):
        result = result.get("decision")
    try:
        return Decision.parse(result, "result")
    except ValueError as exc:
        raise OpaError(str(exc)) from None


class OpaEngine:
    def __init__(self, config: OpaConfig, client: httpx.AsyncClient | None = None) -> None:
        import httpx

        self.config = config
        self.endpoint = f"{config.url.rstrip('/')}/v1/data/{config.path}"
        self._client = client or httpx.AsyncClient(timeout=config.timeout_s)

    async def decide(self, situation: Situation) -> Decision:
        import httpx

        try:
            response = await self._client.post(self.endpoint, json={"input": situation.plain()})
        except httpx.HTTPError as exc:
            raise OpaError(f"{type(exc).__name__} calling {self.endpoint}") from exc
        if response.status_code != 200:
            raise OpaError(f"{self.endpoint} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise OpaError(f"{self.endpoint} did not answer JSON") from exc
        return opa_result_decision(body)

    async def close(self) -> None:
        await self._client.aclose()


class CurrentEngine:
    def __init__(self, rules: RulesEngine, opa: OpaEngine | None = None) -> None:
        self.rules = rules
        self.opa = opa

    @classmethod
    def from_config(cls, config: CurrentEngineConfig, rules: RulesEngine) -> CurrentEngine:
        opa = OpaEngine(config.opa) if config.kind == "opa" and config.opa else None
        return cls(rules, opa)

    @property
    def kind(self) -> str:
        return "opa" if self.opa else "rules"

    async def decide(self, situation: Situation,
                     caller: Decision | None = None) -> CurrentDecision:
        if caller is not None:
            return CurrentDecision(caller, "caller")
        if self.opa is None:
            ruled = self.rules.decide(situation)
            return CurrentDecision(ruled.decision, "rules", ruled.rule_ids)
        try:
            return CurrentDecision(await self.opa.decide(situation), "opa")
        except OpaError as exc:
            log.warning("current policy engine (OPA) failed, denying: %s", exc)
            return CurrentDecision(Decision.DENY, "opa", error=str(exc))

    async def close(self) -> None:
        if self.opa is not None:
            await self.opa.close()
