"""deploy/helm/warden: rendered by Helm's own Go SDK (helm-python-sdk bundles it) for the
default and the vLLM values, every manifest validated against the Kubernetes JSON schemas
(kubernetes-validate, strict: unknown fields fail) and the CRDs against models generated from
the KEDA and prometheus-operator CRDs (cloudcoil). Then what the chart promises: probes,
drain, the migration hook, deny-by-default network policy, alert rules from alerts.yaml."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pydantic
import pytest
import yaml
from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as prometheus_operator
from tests.unit.deploy.tools import DEPLOY, require_tool

CHART = DEPLOY / "helm" / "warden"
VALUES = {"default": {}, "vllm": yaml.safe_load((CHART / "values-vllm.yaml").read_text())}
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a current one.
KUBERNETES_VERSIONS = ("1.27.0", "1.35.0")
CRD_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "ServiceMonitor": prometheus_operator.ServiceMonitor,
    "PrometheusRule": prometheus_operator.PrometheusRule,
    "ScaledObject": keda.ScaledObject,
}

Manifest = dict[str, Any]


def render(values: dict[str, Any]) -> list[Manifest]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="warden", namespace="llm", is_install=True)
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module", params=sorted(VALUES))
def manifests(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[Manifest]]]:
    yield request.param, render(VALUES[request.param])


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [d for d in docs if d["kind"] == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def validate(doc: Manifest) -> None:
    """Raise if the manifest breaks its schema; CRDs also fail on fields the schema lacks."""
    model = CRD_MODELS.get(doc["kind"])
    if model is None:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
        return
    parsed = model.model_validate(doc)
    # The models ignore unknown fields; a field that does not survive the round trip is one.
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == doc, (
        f"{doc['kind']} has fields its CRD does not define")


# --- rendering and schemas -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VALUES))
def test_helm_lint_finds_nothing_above_info(name: str) -> None:
    report = helm.lint(str(CHART), VALUES[name], strict=True, namespace="llm")
    assert report["errors"] == []
    worse_than_info = [m for m in report["messages"] if m["severity"] > 1]
    assert worse_than_info == []


def test_every_manifest_matches_its_schema(manifests: tuple[str, list[Manifest]]) -> None:
    _, docs = manifests
    for doc in docs:
        validate(doc)


def test_the_validators_reject_broken_manifests() -> None:
    docs = render({})
    deployment = copy.deepcopy(one(docs, "Deployment"))
    deployment["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    monitor = copy.deepcopy(one(docs, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(AssertionError, match="fields its CRD does not define"):
        validate(monitor)
    scaled = copy.deepcopy(one(render(VALUES["vllm"]), "ScaledObject", "warden"))
    del scaled["spec"]["triggers"][0]["type"]
    with pytest.raises(pydantic.ValidationError):
        validate(scaled)


def test_kinds_rendered_for_each_values_file(manifests: tuple[str, list[Manifest]]) -> None:
    name, docs = manifests
    kinds = sorted(d["kind"] for d in docs)
    common = ["ConfigMap", "ConfigMap", "Deployment", "Job", "NetworkPolicy",
              "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceAccount",
              "ServiceMonitor"]
    expected = {"default": [*common, "HorizontalPodAutoscaler"],
                "vllm": [*common, "CronJob", "ScaledObject", "ScaledObject"]}[name]
    assert kinds == sorted(expected)
    assert "Secret" not in kinds, "secrets are referenced (existingSecret), never rendered"


# --- the serving pod ---------------------------------------------------------------------

def test_probes_drain_and_grace_period(manifests: tuple[str, list[Manifest]]) -> None:
    _, docs = manifests
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    config = yaml.safe_load(one(docs, "ConfigMap", "warden")["data"]["warden.yaml"])
    drain = config["server"]["drain_timeout_s"]
    assert pod["terminationGracePeriodSeconds"] > drain + int(sleep[1])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_grace_period_shorter_than_the_drain_is_refused() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"terminationGracePeriodSeconds \(20\)"):
        render({"lifecycle": {"terminationGracePeriodSeconds": 20}})
    assert one(render({"lifecycle": {"terminationGracePeriodSeconds": 90}}), "Deployment"
               )["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 90


def test_the_vllm_values_read_secrets_by_reference() -> None:
    docs = render(VALUES["vllm"])
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "warden-secrets"}}]
    config = yaml.safe_load(one(docs, "ConfigMap", "warden")["data"]["warden.yaml"])
    assert config["models"][0]["backend"] == "upstream"
    assert "api_key" not in config["models"][0]["upstream"]


def test_the_configmap_is_a_valid_warden_config(manifests: tuple[str, list[Manifest]],
                                                tmp_path: Path) -> None:
    _, docs = manifests
    path = tmp_path / "warden.yaml"
    path.write_text(one(docs, "ConfigMap", "warden")["data"]["warden.yaml"])
    result = subprocess.run([sys.executable, "-m", "warden.cli.main", "config", "check",
                             "-c", str(path)], capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_migration_hook_runs_before_install_and_upgrade(
        manifests: tuple[str, list[Manifest]]) -> None:
    _, docs = manifests
    job = one(docs, "Job")
    hook = job["metadata"]["annotations"]
    assert hook["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "warden", "audit", "verify"]
    # Its config is a hook too (the release's ConfigMap does not exist yet), created first,
    # with the same warden.yaml as the server's.
    hook_config = one(docs, "ConfigMap", "warden-migrate")
    config_hook = hook_config["metadata"]["annotations"]
    assert config_hook["helm.sh/hook"] == hook["helm.sh/hook"]
    assert int(config_hook["helm.sh/hook-weight"]) < int(hook["helm.sh/hook-weight"])
    assert hook_config["data"] == one(docs, "ConfigMap", "warden")["data"]


# --- scaling ---------------------------------------------------------------------------

def test_keda_replaces_the_hpa_and_its_queries_parse(tmp_path: Path) -> None:
    docs = render(VALUES["vllm"])
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    gateway = one(docs, "ScaledObject", "warden")
    pool = one(docs, "ScaledObject", "warden-upstream-pool")
    assert [t["name"] for t in gateway["spec"]["triggers"]] == [
        "request-rate", "waiting-requests", "p95-latency"]
    assert pool["spec"]["scaleTargetRef"]["name"] == "vllm"
    assert "DCGM_FI_DEV_GPU_UTIL" in pool["spec"]["triggers"][0]["metadata"]["query"]
    queries = [t["metadata"]["query"] for d in (gateway, pool) for t in d["spec"]["triggers"]]
    rules = tmp_path / "keda.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": [
        {"record": f"keda:query:{i}", "expr": q} for i, q in enumerate(queries)]}]}))
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(rules)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pod_disruption_budget_leaves_room_to_drain() -> None:
    budget = one(render({}), "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1


# --- network and monitoring ------------------------------------------------------------

def egress_ports(policy: Manifest) -> set[tuple[int, str]]:
    return {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"]
            for p in rule["ports"]}


def test_network_policy_denies_by_default_and_allows_the_dependencies() -> None:
    default = one(render({}), "NetworkPolicy")
    assert default["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert default["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert egress_ports(default) == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP")}
    vllm = one(render(VALUES["vllm"]), "NetworkPolicy")
    assert (8000, "TCP") in egress_ports(vllm)


def test_the_service_monitor_scrapes_with_a_key_as_job_warden() -> None:
    endpoint = one(render({}), "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": "warden-scrape-key",
                                                        "key": "key"}
    assert {"action": "replace", "targetLabel": "job",
            "replacement": "warden"} in endpoint["relabelings"]


def test_the_prometheus_rule_is_alerts_yaml(tmp_path: Path) -> None:
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    rule = one(render({}), "PrometheusRule")
    assert rule["spec"]["groups"] == shipped["groups"]
    linked = one(render({"prometheusRule": {"runbookBaseUrl": "https://git.example/warden/"}}),
                 "PrometheusRule")
    urls = [r["annotations"]["runbook_url"] for g in linked["spec"]["groups"]
            for r in g["rules"] if "alert" in r]
    assert urls and all(u.startswith("https://git.example/warden/docs/runbooks/") for u in urls)
    path = tmp_path / "rule.yaml"
    path.write_text(yaml.safe_dump(linked["spec"]))
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_dashboards_ship_as_configmaps_when_asked() -> None:
    docs = render({"grafanaDashboards": {"enabled": True}})
    for name in ("warden-serving", "warden-release"):
        data = one(docs, "ConfigMap", f"warden-{name}")["data"]
        shipped = (DEPLOY / "grafana" / f"{name}.json").read_text()
        assert data[f"{name}.json"].strip() == shipped.strip()
