"""The Grafana dashboard (deploy/k8s/base/dashboards) queries only metrics this build exports."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import fengqiao.metrics  # noqa: F401 (registers the services' metrics)
from gateway.app import GatewayMetrics

BASE = Path(__file__).parents[2] / "deploy" / "k8s" / "base"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    names = set()
    for registry in (REGISTRY, GatewayMetrics().registry):
        for metric in registry.collect():
            names |= {metric.name + suffix for suffix in SUFFIXES.get(metric.type, ("",))}
    return names


def test_every_query_names_a_metric_the_platform_exports():
    dashboard = json.loads((BASE / "dashboards" / "fengqiao.json").read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {name for q in queries for name in re.findall(r"\bfengqiao_[a-z0-9_]+", q)}
    assert len(queries) >= 12 and {"fengqiao_cases_open", "fengqiao_cases_overdue", "fengqiao_cases_grade3_open",
                                   "fengqiao_intake_to_assigned_seconds_bucket"} <= named
    assert not named - exported(), f"not exported: {sorted(named - exported())}"


def test_the_dashboard_ships_as_a_configmap_for_the_grafana_sidecar():
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    generator = next(g for g in kustomization["configMapGenerator"] if g["name"] == "fengqiao-grafana-dashboard")
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert all((BASE / f).exists() for f in generator["files"])
