"""An in-toto v1 Statement with a SLSA provenance v1 predicate for the built wheel.

Subjects: the wheel (and the SBOM, so its integrity is signed too). Resolved dependencies
(the materials): the git commit of the source, the dependency lock, and the wheel's own
digest as built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://warden.invalid/release/python-wheel@v1"


@dataclass(frozen=True)
class Artifact:
    name: str
    sha256: str


@dataclass(frozen=True)
class Source:
    repository: str        # e.g. git+file:///work/main or git+https://host/org/warden
    commit: str            # full SHA-1
    dirty: bool            # uncommitted changes at build time


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_statement(*, wheel: Artifact, sbom: Artifact, lock: Artifact, source: Source,
                    builder_id: str, invocation_id: str, started: float, finished: float,
                    source_date_epoch: int, command: list[str]) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": a.name, "digest": {"sha256": a.sha256}} for a in (wheel, sbom)],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "source": {"uri": source.repository, "digest": {"gitCommit": source.commit}},
                    "command": command,
                },
                "internalParameters": {"SOURCE_DATE_EPOCH": str(source_date_epoch),
                                       "worktreeDirty": source.dirty},
                "resolvedDependencies": [
                    {"uri": f"{source.repository}@{source.commit}",
                     "digest": {"gitCommit": source.commit}},
                    {"name": lock.name, "digest": {"sha256": lock.sha256}},
                    {"name": wheel.name, "digest": {"sha256": wheel.sha256}},
                ],
            },
            "runDetails": {
                "builder": {"id": builder_id},
                "metadata": {"invocationId": invocation_id, "startedOn": _iso(started),
                             "finishedOn": _iso(finished)},
            },
        },
    }
