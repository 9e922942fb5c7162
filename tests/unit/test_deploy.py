"""The Kubernetes manifests parse, every kustomization names files that exist, and every
process the manifests start is a command this build has."""
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from fengqiao.bus.topology import (
    PUBLIC_EXCHANGE,
    RPC_EXCHANGE,
    event_exchange,
    import_progress_queue_name,
    queue_name,
    subscriptions,
)
from fengqiao.registry import SERVICES, all_service_classes
from fengqiao.screen import EXCHANGE as SCREEN_EXCHANGE
from fengqiao.settings import Settings
from gateway.routes import health

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


def _permissions() -> dict[str, dict[str, re.Pattern]]:
    return {d["spec"]["userReference"]["name"].removeprefix("fengqiao-"): {
        k: re.compile(v) for k, v in d["spec"]["permissions"].items()}
        for d in docs(K8S / "base" / "bus-users.yaml") if d["kind"] == "Permission"}


def test_each_service_may_read_only_its_own_queues_and_publish_only_on_its_own_exchange():
    permissions = _permissions()
    subs = subscriptions(all_service_classes())
    queues = {s.service: [] for s in subs}
    for s in subs:
        queues[s.service].append(queue_name(s.source_service, s.event_types, s.service, s.method))
    for service in SERVICES:
        own = permissions[service]
        mine = queues.get(service, []) + [f"rpc-{service}"]
        others = [q for name, qs in queues.items() if name != service for q in qs] + [
            f"rpc-{n}" for n in SERVICES if n != service] + ["fengqiao.dlq"]
        for queue in mine:
            assert own["read"].match(queue) and own["configure"].match(queue) and own["write"].match(queue), queue
        for queue in others:
            assert not own["read"].match(queue), f"{service} may read {queue}"
        assert own["write"].match(f"{service}.events") and own["write"].match(RPC_EXCHANGE)
        for other in SERVICES:
            if other != service:
                assert not own["write"].match(f"{other}.events"), f"{service} may publish as {other}"
        # Only the read model states public facts: it alone knows each case whole.
        assert bool(own["write"].match(PUBLIC_EXCHANGE)) == (service == "search")
        assert bool(own["write"].match(SCREEN_EXCHANGE)) == (service == "search")  # the counters are its own
        for source in {s.source_service for s in subs if s.service == service}:
            assert own["read"].match(event_exchange(source).name)  # to bind its queues


def test_the_gateway_and_the_topology_users_hold_only_what_they_need():
    permissions = _permissions()
    gateway, topology = permissions["gateway"], permissions["topology"]
    assert gateway["write"].match("gateway.events") and gateway["read"].match("rpc.reply-standalone_rpc_proxy-1a2b")
    assert not any(gateway["read"].match(q) for q in ["fengqiao.dlq", "rpc-intake", "evt-gateway-*--intake.x"])
    assert not gateway["write"].match("intake.events")
    # Its own queue of the walls' counter notices, bound to the exchange the topology declared.
    assert gateway["read"].match(SCREEN_EXCHANGE) and gateway["read"].match("gateway-screen-1a2b")
    assert all(gateway[p].match("gateway-screen-1a2b") for p in ("configure", "write"))
    assert not gateway["configure"].match(SCREEN_EXCHANGE) and topology["configure"].match(SCREEN_EXCHANGE)
    # Intake's outcomes of imported rows, on the durable queue the topology declares for it.
    progress = import_progress_queue_name()
    assert gateway["read"].match(progress) and not gateway["configure"].match(progress)
    assert topology["configure"].match(progress)
    every_queue = [queue_name(s.source_service, s.event_types, s.service, s.method)
                   for s in subscriptions(all_service_classes())]
    assert all(topology["configure"].match(q) for q in every_queue + ["fengqiao.dlq", "rpc-search"])
    assert not any(topology["read"].match(q) for q in every_queue)  # it declares; it never consumes


def test_every_process_connects_as_its_own_bus_user():
    deployments = {d["metadata"]["name"]: d for f in (K8S / "base").glob("*.yaml") for d in docs(f)
                   if d.get("kind") == "Deployment"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]["template"]["spec"]
        user = name.removeprefix("fengqiao-")
        amqp = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in spec["containers"][0]["env"]}
        assert amqp["FQ_AMQP_URI"] == f"fengqiao-amqp-{user}"
        init = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in spec["initContainers"][0]["env"]}
        assert init["FQ_AMQP_URI"] == "fengqiao-amqp-topology"


def test_the_gateways_database_user_may_only_add_to_the_audit_log():
    from gateway import accounts, audit, imports, submissions

    [mongo] = [d for d in docs(K8S / "base" / "mongodb.yaml") if d["kind"] == "MongoDBCommunity"]
    [role] = mongo["spec"]["security"]["roles"]
    actions = {p["resource"]["collection"]: set(p["actions"]) for p in role["privileges"]}
    assert not {"update", "remove"} & actions["audit"] and "insert" in actions["audit"]
    for spec in (accounts.API_CLIENTS, accounts.STAFF, accounts.SECRETS, submissions.RECEIPTS, imports.JOBS,
                 imports.CHUNKS, imports.SENT, imports.OUTCOMES):
        assert {"find", "insert", "update"} <= actions[spec.name], spec.name
    assert audit.AUDIT.append_only


# Kinds served by operators (RabbitMQ, ECK, MongoDB community, Prometheus): kubernetes-validate
# holds schemas only for Kubernetes' own kinds, so these get the shape check below instead.
OPERATOR_GROUPS = {"rabbitmq.com", "elasticsearch.k8s.elastic.co", "mongodbcommunity.mongodb.com",
                   "monitoring.coreos.com"}


def kustomize_build(directory: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed: the kustomize builds can't be made on this machine")
    done = subprocess.run([kubectl, "kustomize", str(K8S / directory)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # e.g. two documents run together without "---"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


BUILDS = ["base", "overlays/dev", "overlays/production"]


@pytest.mark.parametrize("directory", BUILDS)
def test_each_build_validates_against_the_kubernetes_schemas(directory):
    resources = kustomize_build(directory)
    for resource in resources:
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        if resource["apiVersion"].split("/")[0] in OPERATOR_GROUPS:
            assert resource["metadata"]["namespace"] == "fengqiao" and resource["spec"], name
            continue
        try:
            kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(f"{directory}: {name}: {error.message} at {list(error.path)}") from None
    deployments = {r["metadata"]["name"] for r in resources if r["kind"] == "Deployment"}
    scaled = {r["spec"]["scaleTargetRef"]["name"] for r in resources if r["kind"] == "HorizontalPodAutoscaler"}
    assert deployments == {"fengqiao-gateway"} | {f"fengqiao-{s}" for s in SERVICES} == scaled


@pytest.mark.parametrize("directory", BUILDS)
def test_images_ports_probes_and_settings_match_the_build(directory):
    resources = kustomize_build(directory)
    [config] = [r["data"] for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == "fengqiao-config"]
    settings = Settings.model_fields
    for key in config:
        assert key.removeprefix("FQ_").lower() in settings, f"ConfigMap key {key} is no setting"
    Settings(**{k.removeprefix("FQ_").lower(): v for k, v in config.items()})  # and each value is valid
    probes = {route.path for route in health.router.routes}
    deployments = [r for r in resources if r["kind"] == "Deployment"]
    assert len({d["spec"]["template"]["spec"]["containers"][0]["image"] for d in deployments}) == 1
    for deployment in deployments:
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        for env in container.get("env", []):
            assert env["name"].removeprefix("FQ_").lower() in settings, f"{env['name']} is no setting"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        is_gateway = deployment["metadata"]["name"] == "fengqiao-gateway"
        want = {"http": int(config["FQ_GATEWAY_PORT"])} if is_gateway else {"metrics": int(config["FQ_METRICS_PORT"])}
        assert ports == want, deployment["metadata"]["name"]
        for probe in ("readinessProbe", "livenessProbe"):
            http = container.get(probe, {}).get("httpGet")
            if http:
                assert http["port"] in ports and http["path"] in probes, (deployment["metadata"]["name"], probe)
