"""Tools nobody on the project wrote, against the whole platform: schemathesis over every
operation of the OpenAPI document, and the ``georeport`` Open311 client.

The whole platform runs as ``fengqiao up`` runs it (real services on a RabbitMQ vhost of its
own), so answers that come from a service are checked too. The run is bounded and repeatable:
a fixed seed, a few examples per operation, positive and negative data. A case under mediation,
an import and an Open311 request are made first, and half the generated path parameters name
them (tests/gateway/schemathesis_hooks.py), so the fuzzing reaches real state, not only 404s. Each answer must be no
5xx, a documented status and media type, and a body matching the documented schema. The test
prints the figures: operations, requests and failures, and each failure's operation and check.
"""
from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from georeport import GeoReport

from gateway.problems import PROBLEM_JSON

# vhost_uri is a fixture: imported so the platform below gets a vhost of its own.
from tests.e2e.conftest import start_platform, stop_platform, vhost_uri, view_when, wait_until  # noqa: F401
from tests.e2e.test_access_matrix import NONE, REQUESTS, _call

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SEED = 15
EXAMPLES_PER_OPERATION = 20
BUDGET_SECONDS = 180
# An endless event stream: schemathesis would read it for ever. Its contract (snapshot, updates,
# keep-alives, resume, scope) is tested in tests/e2e/test_screen.py.
ENDLESS = ("/api/v1/screen/stream",)
# One caller that passes every access check, so the answers go past it to the routes' own work.
ROLES = ("leader", "admin", "auditor", "pii_reader", "intake")
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def platform(tmp_path_factory, vhost_uri):  # noqa: F811 (the imported fixture)
    running = start_platform(tmp_path_factory.mktemp("schemathesis"), vhost_uri)
    yield running
    stop_platform(running)


def seed(platform, key: str) -> dict[str, str]:
    """Resources for the fuzzing to act on (see schemathesis_hooks): a case under mediation, a
    ledger import, an Open311 request and its token."""
    with platform.client(key) as client:
        accepted = client.post("/api/v1/cases", json={
            "channel": "hotline_12345", "source_id": "FUZZ-1", "region_code": "150102001001",
            "text": "来电人王某反映：楼上住户卫生间漏水两个月，天花板发霉，电话13912345678。",
            "reporter": {"name": "王某", "phone": "13912345678"}})
        assert accepted.status_code == 202, accepted.text
        case_id = accepted.json()["id"]
        ledger = ("渠道,来源编号,反映内容,地址,区划代码,反映人,联系电话\n"
                  "hotline_12345,FUZZ-LEDGER-1,小区路灯不亮,新城区清泉街社区3号楼,150102001001,李某,13800001111\n")
        job = client.post("/api/v1/imports", files={"file": ("ledger.csv", ledger.encode())})
        assert job.status_code == 202, job.text
        [request] = client.post("/open311/v2/requests.json", data={
            "service_code": "neighbor", "description": "楼道堆物，消防通道被占", "address_string": "新城区清泉街社区",
            "attribute[source_id]": "FUZZ-OPEN311-1"}).json()
        view_when(client, case_id, lambda v: v["status"] == "assigned", "the seeded case assigned")
        mediator = client.get("/api/v1/mediators", params={"case_id": case_id}).json()["items"][0]["id"]
        opened = client.post("/api/v1/mediations", json={
            "case_id": case_id, "mediator_ids": [mediator],
            "parties": [{"name": "王某", "role": "applicant", "phone": "13912345678"},
                        {"name": "某物业公司", "role": "respondent", "kind": "organisation"}]})
        assert opened.status_code == 201, opened.text
        wait_until(lambda: client.get(f"/open311/v2/requests/{request['service_request_id']}.json").status_code == 200,
                   60, "the seeded Open311 request projected")
    return {"case_id": case_id, "mediation_id": opened.json()["id"], "job_id": job.json()["id"],
            "request_id": request["service_request_id"], "token": request["token"]}


def run_schemathesis(base_url: str, key: str, reports: Path, seeded: dict[str, str]) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
        "--header", f"X-API-Key: {key}", "--checks", CHECKS, "--seed", str(SEED),
        "--max-examples", str(EXAMPLES_PER_OPERATION), "--phases", "examples,coverage,fuzzing",
        "--workers", "1", "--continue-on-failure", "--no-color", "--request-timeout", "30",
        "--report", "ndjson", "--report-dir", str(reports),
        *[arg for path in ENDLESS for arg in ("--exclude-path", path)],
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.gateway.schemathesis_hooks", "PYTHONPATH": str(ROOT),
           "FQ_SCHEMATHESIS_IDS": json.dumps(seeded)}
    # One worker: schemathesis's workers are threads, and CPython 3.11's ast.parse keeps one
    # recursion counter per interpreter, so hypothesis parsing lambdas' sources in two threads at
    # once raised "SystemError: AST constructor recursion depth mismatch" in a CI run (gh-106905).
    # In the report directory: schemathesis keeps a cache in its working directory.
    return subprocess.run(command, capture_output=True, text=True, timeout=BUDGET_SECONDS * 2, cwd=reports, env=env)


def figures(report: Path, seeded: dict[str, str]) -> tuple[int, int, int, list[str]]:
    """Operations exercised, requests sent, those that reached a seeded resource (answered other
    than 404), and the failures (operation, check, what)."""
    operations, requests, reached, failures = set(), 0, 0, collections.Counter()
    for line in report.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if "ScenarioFinished" not in event:
            continue
        recorder = event["ScenarioFinished"]["recorder"]
        operations.add(recorder["label"])
        interactions = recorder.get("interactions", {}).values()
        requests += len(interactions)
        reached += sum(any(value in i["request"]["uri"] for value in seeded.values())
                       and i["response"]["status_code"] != 404 for i in interactions if i.get("response"))
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check["status"] != "success":
                    failure = (check.get("failure_info") or {}).get("failure", {})
                    failures[f"{recorder['label']}: {check['name']}: {failure.get('message', '')!r}"] += 1
    return len(operations), requests, reached, [f"{count} × {what}" for what, count in sorted(failures.items())]


def test_schemathesis_finds_nothing_wrong(platform, tmp_path):
    key = platform.key(*ROLES, name="schemathesis")
    seeded = seed(platform, key)
    started = time.monotonic()
    done = run_schemathesis(platform.base_url, key, tmp_path, seeded)
    seconds = time.monotonic() - started
    [report] = tmp_path.glob("*.ndjson")
    operations, requests, reached, failures = figures(report, seeded)
    print(f"\nschemathesis: {operations} operations, {requests} requests ({reached} on the seeded case, "
          f"mediation, import and request), {len(failures)} failures, "
          f"{seconds:.0f} s (seed {SEED}, {EXAMPLES_PER_OPERATION} examples per operation)")
    print("\n".join(failures))
    paths = platform.client().get("/openapi.json").json()["paths"]
    assert all(path in paths for path in ENDLESS)
    documented = sum(len(ops) for path, ops in paths.items() if path not in ENDLESS)
    assert operations == documented, "an operation of the document was not exercised"
    assert reached > 50, "the fuzzing hardly reached the seeded resources: is the hook loaded?"
    assert not failures and done.returncode == 0, done.stdout[-5000:]


# Parameters that name no resource: a format, a service code, an obligation's number.
NOT_IDS = {"fmt", "code", "obligation_no"}
OPEN311 = "/open311/"  # answers in Open311's own error list


def id_operations() -> list[tuple[str, str]]:
    return [op for op in REQUESTS if set(re.findall(r"{(\w+)}", op[1])) - NOT_IDS]


def test_every_route_answers_404_for_an_unknown_id(platform):
    key = platform.key(*ROLES, name="unknown ids")
    wrong = []
    with platform.client(key) as client:
        for n, (method, path) in enumerate(id_operations()):
            target = NONE | {"region": "150102"}
            answer = _call(client, key, method, path, target, n)
            media = answer.headers.get("content-type", "")
            expected = "application/json" if path.startswith(OPEN311) else PROBLEM_JSON
            if answer.status_code != 404 or not media.startswith(expected):
                wrong.append(f"{method} {path}: {answer.status_code} {media} {answer.text[:200]}")
    assert len(id_operations()) > 30
    assert not wrong, "\n".join(wrong)


def test_the_georeport_client_reads_every_resource(platform):
    """The ``georeport`` Open311 client from PyPI, in both formats, for every read it has."""
    key = platform.key("intake", name="Open311 客户端")
    form = {"api_key": key, "service_code": "neighbor", "description": "楼道堆物，消防通道被占",
            "address_string": "新城区清泉街社区", "attribute[source_id]": "GEOREPORT-1"}
    with platform.client(key) as client:
        [created] = client.post("/open311/v2/requests.json", data=form, headers={"X-API-Key": ""}).json()
        request_id = created["service_request_id"]
        wait_until(lambda: client.get(f"/open311/v2/requests/{request_id}.json").status_code == 200, 60,
                   "the request is projected")
    for output in ("json", "xml"):
        city = GeoReport(f"{platform.base_url}/open311/v2", api_key=key, output_format=output)
        services = city.get_service_list()
        assert {s["service_code"] for s in services} >= {"neighbor", "labor_wage"} and len(services) == 14
        definition = city.get_service_definition("neighbor")
        assert definition["service_code"] == "neighbor" and definition["attributes"]
        listed = city.get_service_requests(service_request_id=request_id)
        listed = listed if isinstance(listed, list) else [listed]  # xmltodict makes one element a dict
        assert [r["service_request_id"] for r in listed] == [request_id]
        one = city.get_service_request(request_id)
        assert (one["service_request_id"], one["service_code"], one["status"]) == (request_id, "neighbor", "open")
