"""The package layers of src/warden: every import (also those inside functions) points inward,
and the package graph has no cycle. The README's architecture section shows the same graph.

    0  config, constraints, embeddings, telemetry      (leaves: import no other package)
    1  store
    2  engine, ratelimit, retrieval, safety            (beside each other, never each other)
    3  backup, batch, evaluation, rollout, policy,     (compose the layers below)
       redteam
    4  api, web
    5  cli
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "warden"

RANK = {
    "(root)": 0, "config": 0, "constraints": 0, "embeddings": 0, "telemetry": 0,
    "store": 1,
    "engine": 2, "ratelimit": 2, "retrieval": 2, "safety": 2,
    "backup": 3, "batch": 3, "evaluation": 3, "rollout": 3, "policy": 3, "redteam": 3,
    "api": 4, "web": 4,
    "cli": 5,
}
# Imports between packages of the same rank, each with its reason.
SIDEWAYS = {
    ("config", "constraints"): "tool parameter schemas are checked against the decoder limits",
    ("rollout", "evaluation"): "canary analysis reuses the eval runs, metrics and statistics",
    ("policy", "evaluation"): "advisory rollout gates reuse the statistics and few-shot KNN",
    ("policy", "rollout"): "advisory rollout reuses arms and promotion",
    ("backup", "rollout"): "a backup carries which arm each rollout serves",
    ("backup", "policy"): "a backup carries each advisory action type's mode",
}


def package_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return "(root)" if len(parts) == 1 else parts[0]


def import_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        source = package_of(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "warden" and len(parts) > 1 and parts[1] != source:
                    edges[source].add(parts[1])
    return edges


def test_every_package_has_a_layer() -> None:
    packages = {package_of(p) for p in SRC.rglob("*.py")}
    assert packages - RANK.keys() == set(), "place new packages in RANK (tests/unit/test_layers.py)"


def test_imports_point_inward() -> None:
    wrong = [f"{source} -> {target}" for source, targets in import_graph().items()
             for target in targets
             if RANK[target] > RANK[source]
             or (RANK[target] == RANK[source] and (source, target) not in SIDEWAYS)]
    assert wrong == [], f"imports that point up or sideways: {wrong}"


def test_no_package_cycle() -> None:
    edges = import_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            assert state.get(nxt) != 1, f"package cycle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for package in sorted(edges):
        if package not in state:
            visit(package, [])
