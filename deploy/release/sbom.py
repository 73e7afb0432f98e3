"""A CycloneDX 1.6 SBOM (JSON) of a Python environment: one component per installed
distribution with its version, purl, license and the SHA-256 of its RECORD, the dependency
graph between them, and the released application as the subject."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from .inventory import Distribution

SPEC_VERSION = "1.6"
# A fixed namespace, so the same inventory always yields the same serial number.
_SERIAL_NAMESPACE = uuid.UUID("6f1c1d8e-4a53-5b7e-9d0c-2b7b1b0e5a11")


def purl(dist_key: str, version: str) -> str:
    return f"pkg:pypi/{dist_key}@{version}"


def _component(dist: Distribution) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library", "bom-ref": purl(dist.key, dist.version), "name": dist.name,
        "version": dist.version, "purl": purl(dist.key, dist.version),
    }
    if dist.record_sha256:
        component["hashes"] = [{"alg": "SHA-256", "content": dist.record_sha256}]
        component["properties"] = [{"name": "warden:hash-of", "value": "dist-info/RECORD"}]
    if dist.license:
        # Free text: License fields in the wild are often not SPDX expressions.
        component["licenses"] = [{"license": {"name": dist.license[:200]}}]
    return component


def build_sbom(dists: list[Distribution], *, app: str, app_version: str,
               app_wheel_sha256: str | None, epoch: int) -> dict[str, Any]:
    """The SBOM document. `app` is left out of the components (it is the subject);
    `epoch` (SOURCE_DATE_EPOCH) is the timestamp, so rebuilding gives the same bytes."""
    by_key = {d.key: d for d in dists}
    parts = [d for d in dists if d.key != app]
    subject: dict[str, Any] = {"type": "application", "bom-ref": purl(app, app_version),
                               "name": app, "version": app_version,
                               "purl": purl(app, app_version)}
    if app_wheel_sha256:
        subject["hashes"] = [{"alg": "SHA-256", "content": app_wheel_sha256}]
    refs = {d.key: purl(d.key, d.version) for d in parts}
    app_requires = by_key[app].requires if app in by_key else ()
    dependencies = [{"ref": subject["bom-ref"],
                     "dependsOn": [refs[r] for r in app_requires if r in refs]}]
    dependencies += [{"ref": refs[d.key], "dependsOn": [refs[r] for r in d.requires
                                                         if r in refs]} for d in parts]
    body = sorted(f"{d.key}=={d.version}:{d.record_sha256}" for d in parts)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, '|'.join(body))}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "deploy.release.sbom",
                                      "version": app_version}]},
            "component": subject,
        },
        "components": [_component(d) for d in parts],
        "dependencies": dependencies,
    }
