"""The rollout admin API over HTTP, for the CLI, the canary runner and the rollback drill.

One method per route; each returns the decoded JSON or raises EndpointError whose message
names the route, the status, the server's message and what to do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warden.evaluation.client import HttpEndpoint


class RolloutAdmin:
    def __init__(self, url: str, admin_key: str, *, timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/").removesuffix("/v1")
        self.http = HttpEndpoint(self.url, admin_key, timeout_s=timeout_s, retries=2)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RolloutAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # rollouts ----------------------------------------------------------------------------
    def rollouts(self) -> list[dict[str, Any]]:
        data = self.http.call("GET", "/admin/rollouts").get("data")
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []

    def get(self, name: str) -> dict[str, Any]:
        return self.http.call("GET", f"/admin/rollouts/{name}")

    def start(self, name: str, *, challenger: dict[str, Any] | None, share: float | None,
              mode: str | None, reason: str | None) -> dict[str, Any]:
        body = {"challenger": challenger, "share": share, "mode": mode, "reason": reason}
        return self.http.call("POST", f"/admin/rollouts/{name}/start",
                              json={k: v for k, v in body.items() if v is not None})

    def share(self, name: str, share: float) -> dict[str, Any]:
        return self.http.call("POST", f"/admin/rollouts/{name}/share", json={"share": share})

    def promote(self, name: str, *, reason: str | None = None, force: bool = False
                ) -> dict[str, Any]:
        return self.http.call("POST", f"/admin/rollouts/{name}/promote",
                              json={"reason": reason, "force": force})

    def rollback(self, name: str, *, reason: str, automatic: bool = False,
                 evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.http.call("POST", f"/admin/rollouts/{name}/rollback",
                              json={"reason": reason, "automatic": automatic,
                                    "evidence": evidence or {}})

    def verification(self, name: str, matches_baseline: bool, detail: dict[str, Any]
                     ) -> dict[str, Any]:
        return self.http.call("POST", f"/admin/rollouts/{name}/verification",
                              json={"matches_baseline": matches_baseline, "detail": detail})

    # canary ------------------------------------------------------------------------------
    def traffic(self, name: str, since: datetime | None = None) -> dict[str, Any]:
        params = {"since": since.isoformat()} if since else None
        return self.http.call("GET", f"/admin/canaries/{name}/traffic", params=params)

    def facts(self, name: str) -> dict[str, Any]:
        return self.http.call("GET", f"/admin/canaries/{name}/facts")

    def add_verdict(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.http.call("POST", f"/admin/canaries/{name}/verdicts", json=body)

    def verdicts(self, name: str, *, limit: int = 20, evidence: bool = False,
                 since: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, "evidence": str(evidence).lower()}
        if since:
            params["since"] = since
        data = self.http.call("GET", f"/admin/canaries/{name}/verdicts", params=params
                              ).get("data")
        return [v for v in data if isinstance(v, dict)] if isinstance(data, list) else []

    # the rest of the server ----------------------------------------------------------------
    def incident(self, incident_id: str) -> dict[str, Any]:
        return self.http.call("GET", f"/admin/incidents/{incident_id}")

    def corpus_versions(self, corpus: str) -> dict[str, Any]:
        return self.http.call("GET", "/admin/retrieval/versions", params={"corpus": corpus})

    def audit_verify(self) -> dict[str, Any]:
        return self.http.call("GET", "/admin/audit/verify")

    def drill(self, record: dict[str, Any]) -> dict[str, Any]:
        return self.http.call("POST", "/admin/drills", json=record)

    def drift(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.http.call("GET", "/admin/drift", params=params)
