"""Who may call, what they may do, and the audit of it, through the gateway (TestClient).

The broker is down here (``offline_client``): every check below happens before a service is
asked, which is the point: a refused caller never reaches the bus.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from urllib.parse import quote

import openpyxl
import pytest
from fastapi.routing import APIRoute

from gateway.app import ROUTERS, create_app
from gateway.auth import Public, Require
from gateway.routes.ledgers import _workbook
from gateway.routes.open311 import Open311Submitter
from tests.gateway.conftest import ADMIN_KEY, as_role

CASE = {"channel": "hotline_12345", "source_id": "GD-1", "text": "楼上漏水", "region_code": "150102"}
DECLARATIONS = (Require, Public, Open311Submitter)


def declarations(route: APIRoute) -> list:
    found, pending = [], list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, DECLARATIONS):
            found.append(dependency.call)
        pending.extend(dependency.dependencies)
    return found


def test_every_route_declares_its_access_once():
    app = create_app()
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    documented = {(path, method.upper()) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert documented == {(r.path, m) for r in routes for m in r.methods}, "a router is missing from ROUTERS"
    assert len(routes) > 50
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if len(declarations(r)) != 1]
    assert not undeclared, f"routes without exactly one access declaration: {undeclared}"
    policy_permissions = set(app.state.policy.permissions)
    for route in routes:
        for declaration in declarations(route):
            assert set(declaration.permissions) <= policy_permissions, (route.path, declaration.permissions)


def test_the_openapi_document_declares_both_security_schemes(offline_client):
    spec = offline_client.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "StaffToken", "Open311ApiKey"}
    assign = spec["paths"]["/api/v1/cases/{case_id}/assign"]["post"]
    assert {"ApiKey": []} in assign["security"] and {"StaffToken": []} in assign["security"]


@pytest.mark.parametrize("roles, method, path", [
    (("screen",), "post", "/api/v1/cases"),
    (("screen",), "get", "/api/v1/cases/c1"),
    (("intake",), "post", "/api/v1/cases/c1/assign"),
    (("handler",), "post", "/api/v1/cases/c1/assign"),
    (("mediator",), "post", "/api/v1/cases/c1/close"),
    (("auditor",), "get", "/api/v1/cases"),
    (("agency",), "get", "/api/v1/stats"),
    (("admin",), "post", "/api/v1/cases/c1/return"),
    (("dispatcher",), "get", "/api/v1/audit"),
])
def test_a_role_without_the_permission_gets_403_before_any_service_is_asked(offline_client, roles, method, path):
    units = ["unit-1"] if "handler" in roles else []  # a unit's staff works for named units
    response = offline_client.request(method, path, json={"unit_id": "u", "reason": "x", "note": ""},
                                      headers=as_role(offline_client, *roles, units=units))
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/forbidden" and response.json()["needed"]


def test_an_explicit_filter_outside_the_jurisdiction_is_403(offline_client):
    county = as_role(offline_client, "dispatcher", regions=["150102"])
    answer = offline_client.get("/api/v1/cases", params={"region": "150525"}, headers=county)
    assert answer.status_code == 403 and answer.json()["type"] == "/problems/out-of-scope"
    assert offline_client.get("/api/v1/cases", params={"region": "150102001"}, headers=county).status_code == 503


def test_clients_are_refused_unknown_roles_and_operator_grants_over_http(offline_client):
    unknown = offline_client.post("/api/v1/admin/clients", json={"name": "x", "roles": ["sheriff"]})
    assert unknown.status_code == 422 and "unknown role sheriff" in unknown.text
    for roles in (["screen", "pii_reader"], ["auditor"], ["admin"]):  # no administrator grants itself these
        answer = offline_client.post("/api/v1/admin/clients", json={"name": "x", "roles": roles})
        assert answer.status_code == 403 and "fengqiao command" in answer.text
    handler = offline_client.post("/api/v1/admin/clients", json={"name": "x", "roles": ["handler"]})
    assert handler.status_code == 422 and "--unit" in handler.text


def test_a_disabled_or_rotated_key_stops_working_at_once(offline_client):
    created = offline_client.post("/api/v1/admin/clients", json={"name": "网格App", "roles": ["screen"]}).json()
    old = {"X-API-Key": created["key"]}
    assert len(created["key"]) >= 43 and "key_digest" not in created
    assert offline_client.get("/api/v1/admin/policy", headers=old).status_code == 403  # known, just not allowed
    rotated = offline_client.post(f"/api/v1/admin/clients/{created['id']}/rotate").json()
    assert offline_client.get("/api/v1/cases", headers=old).status_code == 401
    new = {"X-API-Key": rotated["key"]}
    assert offline_client.get("/api/v1/stats", headers=new).status_code == 503  # allowed; the bus is down
    offline_client.post(f"/api/v1/admin/clients/{created['id']}/disable")
    assert offline_client.get("/api/v1/stats", headers=new).status_code == 401


def _staff(client, username="limin", roles=("dispatcher",)):
    answer = client.post("/api/v1/admin/staff", json={"username": username, "name": "李明", "roles": list(roles),
                                                      "regions": ["150102"], "password": "枫桥经验-2026-新城"})
    assert answer.status_code == 201, answer.text
    assert "password_hash" not in answer.json()
    return answer.json()


def _sign_in(client, username="limin", password="枫桥经验-2026-新城"):
    return client.post("/api/v1/auth/token", data={"grant_type": "password", "username": username,
                                                    "password": password}, headers={"X-API-Key": ""})


def test_staff_sign_in_and_a_role_change_or_disabling_takes_effect_at_once(offline_client):
    member = _staff(offline_client)
    assert _sign_in(offline_client, password="wrong-password").status_code == 400
    tokens = _sign_in(offline_client).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "X-API-Key": ""}
    assert offline_client.post("/api/v1/cases/c1/assign", json={"unit_id": "u", "reason": "x"},
                               headers=bearer).status_code == 503  # allowed: dispatchers assign
    offline_client.patch(f"/api/v1/admin/staff/{member['id']}", json={"roles": ["screen"]})
    assert offline_client.post("/api/v1/cases/c1/assign", json={"unit_id": "u", "reason": "x"},
                               headers=bearer).status_code == 403
    offline_client.patch(f"/api/v1/admin/staff/{member['id']}", json={"active": False})
    assert offline_client.get("/api/v1/stats", headers=bearer).status_code == 401
    assert _sign_in(offline_client).status_code == 400


def test_tokens_expire_on_the_platform_clock_and_refresh(offline_client, clock):
    _staff(offline_client, roles=("screen",))
    tokens = _sign_in(offline_client).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 15 * 60
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "X-API-Key": ""}
    clock.advance(minutes=16)
    expired = offline_client.get("/api/v1/stats", headers=bearer)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    refreshed = offline_client.post("/api/v1/auth/token", data={"grant_type": "refresh_token",
                                                                "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    wrong_kind = offline_client.post("/api/v1/auth/token", data={"grant_type": "refresh_token",
                                                                 "refresh_token": tokens["access_token"]})
    assert wrong_kind.status_code == 400
    fresh = {"Authorization": f"Bearer {refreshed.json()['access_token']}", "X-API-Key": ""}
    assert offline_client.get("/api/v1/stats", headers=fresh).status_code == 503


def test_commands_and_refusals_are_audited_by_name_and_audit_reads_are_audited_too(offline_client, tmp_path):
    dispatcher = as_role(offline_client, "dispatcher", name="新城区调度台")
    offline_client.post("/api/v1/cases/c1/return", json={"reason": "非本单位职责"}, headers=dispatcher)
    screen = as_role(offline_client, "screen", name="大屏一号")
    offline_client.post("/api/v1/cases/c1/assign", json={"unit_id": "u", "reason": "x"}, headers=screen)
    auditor = as_role(offline_client, "auditor", name="审计员")
    by_dispatcher = offline_client.get("/api/v1/audit", params={"actor": "新城区调度台"}, headers=auditor).json()
    [returned] = by_dispatcher["items"]
    assert returned["route"] == "/api/v1/cases/{case_id}/return" and returned["case_id"] == "c1"
    assert returned["permission"] == "case.return" and returned["granted"] and returned["status"] == 503
    assert returned["reason"] == "非本单位职责" and returned["client_address"]
    [refused] = offline_client.get("/api/v1/audit", params={"actor": "大屏一号"}, headers=auditor).json()["items"]
    assert not refused["granted"] and refused["status"] == 403
    reads = offline_client.get("/api/v1/audit", params={"actor": "审计员"}, headers=auditor).json()["items"]
    assert reads and all(r["permission"] == "audit.read" for r in reads)
    bad_cursor = offline_client.get("/api/v1/audit", params={"cursor": "!!"}, headers=auditor)
    assert bad_cursor.status_code == 422
    exported = subprocess.run([sys.executable, "-m", "fengqiao.cli", "audit", "export"], capture_output=True,
                              text=True, check=True, env={"FQ_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["actor_name"] for r in lines if r["route"].endswith("/return")] == ["新城区调度台"]
    assert lines == sorted(lines, key=lambda r: r["at"])


def test_the_cli_refuses_unknown_roles_and_weak_keys_and_prints_the_key_last(tmp_path):
    env = {"FQ_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def add(*args):
        return subprocess.run([sys.executable, "-m", "fengqiao.cli", "clients", "add", "12345热线", *args], env=env,
                              capture_output=True, text=True)

    assert "unknown role sheriff" in add("--role", "sheriff").stderr
    assert "at least 32 characters" in add("--role", "intake", "--key", "change-me").stderr
    assert "128 bits" in add("--role", "intake", "--key", "a" * 40).stderr
    made = add("--role", "intake", "--role", "pii_reader", "--region", "150102")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert len(key) >= 43
    listed = subprocess.run([sys.executable, "-m", "fengqiao.cli", "clients", "list"], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert "roles=intake,pii_reader" in listed and "regions=150102" in listed and key not in listed


def test_export_cells_never_run_as_formulas():
    views = [{"number": "=HYPERLINK(\"http://x\")", "text": "+1+2", "address": "@SUM(A1)", "reporter": {"name": "-3"},
              "channel": "hotline_12345"}]
    sheet = openpyxl.load_workbook(io.BytesIO(_workbook(views))).active
    row = [c.value for c in sheet[2]]
    assert row[0] == "'=HYPERLINK(\"http://x\")" and row[2] == "'+1+2" and row[3] == "'@SUM(A1)" and row[5] == "'-3"
    assert all(c.data_type != "f" for c in sheet[2])


def test_the_bootstrap_key_of_the_readme_still_works(offline_client):
    assert offline_client.get("/api/v1/admin/policy", headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_a_new_password_ends_older_sessions_and_forged_tokens_are_refused(offline_client, clock):
    member = _staff(offline_client, roles=("screen",))
    tokens = _sign_in(offline_client).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "X-API-Key": ""}
    header, payload, signature = tokens["access_token"].split(".")
    for forged in (f"{header}.{payload}.{signature[::-1]}", f"eyJhbGciOiJub25lIn0.{payload}."):
        assert offline_client.get("/api/v1/stats", headers={"Authorization": f"Bearer {forged}",
                                                            "X-API-Key": ""}).status_code == 401
    clock.advance(seconds=5)
    changed = offline_client.patch(f"/api/v1/admin/staff/{member['id']}", json={"password": "新的密码-足够长了-1"})
    assert changed.status_code == 200
    stale = offline_client.get("/api/v1/stats", headers=bearer)
    assert stale.status_code == 401 and "password changed" in stale.json()["detail"]
    refresh = offline_client.post("/api/v1/auth/token", data={"grant_type": "refresh_token",
                                                              "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400
    assert _sign_in(offline_client, password="新的密码-足够长了-1").status_code == 200


def test_guessing_passwords_is_slowed_down(offline_client):
    _staff(offline_client)
    for _ in range(5):
        assert _sign_in(offline_client, password="wrong-password").status_code == 400
    throttled = _sign_in(offline_client)  # even the right password waits now
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0


def test_sign_ins_and_unauthenticated_commands_are_audited_with_masked_reasons(offline_client):
    _staff(offline_client)
    _sign_in(offline_client, password="wrong-password")
    _sign_in(offline_client)
    offline_client.post("/api/v1/cases/c1/close", json={}, headers={"X-API-Key": "stolen-or-wrong"})
    reader = as_role(offline_client, "dispatcher", "pii_reader", name="调度台")
    offline_client.get("/api/v1/cases/c1", headers={**reader, "X-Access-Reason": quote("核实张桂兰13912345678的来电")})
    auditor = as_role(offline_client, "auditor")
    records = offline_client.get("/api/v1/audit", params={"limit": 50}, headers=auditor).json()["items"]
    sign_ins = [r for r in records if r["permission"] == "auth.sign_in"]
    assert sorted((r["actor_login"], r["granted"]) for r in sign_ins) == [("limin", False), ("limin", True)]
    assert next(r for r in sign_ins if r["granted"])["actor_name"] == "李明"
    [unknown] = [r for r in records if r["route"] == "/api/v1/cases/{case_id}/close"]
    assert unknown["status"] == 401 and not unknown["granted"] and unknown["actor_name"] == "未认证调用方"
    [read] = [r for r in records if r["actor_name"] == "调度台"]
    assert read["reason"] == "核实张**139****5678的来电"


def test_searching_by_a_persons_name_needs_pii_reader(offline_client):
    masked = as_role(offline_client, "dispatcher")
    refused = offline_client.get("/api/v1/cases", params={"q": "张三丰"}, headers=masked)
    assert refused.status_code == 403 and "pii_reader" in refused.json()["detail"]
    allowed = as_role(offline_client, "dispatcher", "pii_reader")
    assert offline_client.get("/api/v1/cases", params={"q": "张三丰"}, headers=allowed).status_code == 503
    assert offline_client.get("/api/v1/cases", params={"q": "漏水"}, headers=masked).status_code == 503
