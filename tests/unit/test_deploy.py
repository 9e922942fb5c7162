"""The Kubernetes manifests parse, every kustomization names files that exist, and every
process the manifests start is a command this build has."""
from pathlib import Path

import yaml

from fengqiao.registry import SERVICES

K8S = Path(__file__).parents[2] / "deploy" / "k8s"


def docs(path):
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def test_kustomizations_reference_existing_files():
    for kustomization in K8S.rglob("kustomization.yaml"):
        for resource in docs(kustomization)[0]["resources"]:
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_every_service_has_a_deployment_running_it():
    deployments = {
        d["metadata"]["name"]: d for f in (K8S / "base").glob("*.yaml") for d in docs(f)
        if d.get("kind") == "Deployment"
    }
    for service in SERVICES:
        spec = deployments[f"fengqiao-{service}"]["spec"]["template"]["spec"]
        assert spec["containers"][0]["args"] == ["run", service]
        assert spec["initContainers"][0]["args"] == ["bus", "setup"]
    assert deployments["fengqiao-gateway"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"][
        "httpGet"]["path"] == "/readyz"
