"""Every route of the OpenAPI document, called by every role, in and out of its jurisdiction.

The platform runs as ``fengqiao up`` runs it. Two counties hold a case each (新城区 150102, in
the callers' jurisdiction; 奈曼旗 150525, outside it), each with a mediation and an import job.
For every operation and every role (each a client limited to 新城区), the test asserts what the
access policy says: 403 without the permission; with it, in scope, an answer that is neither a
refusal of access nor a 5xx; out of scope, 404 for a single resource (never an existence oracle)
and 403 for an explicit out-of-scope filter. No answer to a caller without ``pii_reader`` carries
a name, phone, ID number or door number of the seeded people.
"""
from __future__ import annotations

import io
import json

import httpx
import pytest
from fastapi.routing import APIRoute

from fengqiao.access import Policy
from gateway.app import ROUTERS
from tests.e2e.conftest import start_platform, stop_platform, view_when, wait_until

IN, OUT = "150102", "150525"
PEOPLE = {IN: ("张桂兰", "13912345678", "150102198001011236", "清泉街社区3号楼2单元501"),
          OUT: ("包宝音", "15947500001", "150525197502021231", "西湖村2组17号")}
SECRETS = [s for person in PEOPLE.values() for s in person[:3]] + ["2单元501", "2组17号"]
ROLES = [name for name, role in Policy.load().roles.items() if not role.grant]
NONE = {"case_id": "no-such-case", "mediation_id": "no-such-mediation", "job_id": "no-such-job", "region": OUT}


def _case_body(region: str, source_id: str) -> dict:
    name, phone, id_number, address = PEOPLE[region]
    return {"channel": "hotline_12345", "source_id": source_id, "region_code": region, "address": address,
            "text": f"来电人{name}反映：楼上住户卫生间漏水两个月，天花板发霉，电话{phone}，身份证{id_number}。",
            "reporter": {"name": name, "phone": phone, "id_number": id_number}}


def _ledger(region: str) -> bytes:
    name, phone, _, address = PEOPLE[region]
    return (f"渠道,来源编号,反映内容,地址,区划代码,反映人,联系电话\nhotline_12345,LEDGER-{region},"
            f"{name}反映小区路灯不亮,{address},{region},{name},{phone}\n").encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory, vhost_uri):
    platform = start_platform(tmp_path_factory.mktemp("matrix"), vhost_uri)
    ids = {}
    for region in (IN, OUT):
        intake = platform.key("intake", regions=[region], name=f"12345热线（{region}）")
        with platform.client(intake) as client:
            accepted = client.post("/api/v1/cases", json=_case_body(region, f"M-{region}"))
            assert accepted.status_code == 202, accepted.text
            job = client.post("/api/v1/imports", files={"file": ("ledger.csv", _ledger(region))})
            assert job.status_code == 202, job.text
        case_id = accepted.json()["id"]
        with platform.client() as leader:
            view_when(leader, case_id, lambda v: v["status"] == "assigned", "assigned")
            mediator = leader.get("/api/v1/mediators", params={"case_id": case_id}).json()["items"][0]["id"]
            name, phone, id_number, _ = PEOPLE[region]
            opened = leader.post("/api/v1/mediations", json={
                "case_id": case_id, "mediator_ids": [mediator],
                "parties": [{"name": name, "role": "applicant", "phone": phone, "id_number": id_number},
                            {"name": "某物业公司", "role": "respondent", "kind": "organisation"}]})
            assert opened.status_code == 201, opened.text
            mediating = view_when(leader, case_id, lambda v: v["status"] == "mediating", "mediating")
        ids[region] = {"case_id": case_id, "mediation_id": opened.json()["id"], "job_id": job.json()["id"],
                       "intake_key": intake, "unit_id": mediating["assignment"]["unit_id"]}
    with platform.client() as leader:
        wait_until(lambda: leader.get("/api/v1/cases").json()["total"] >= 4, 60, "cases indexed")
    yield platform, ids
    stop_platform(platform)


def declared() -> dict[tuple[str, str], tuple[str, ...]]:
    """(method, path) → the permissions its access declaration names; () for a public route."""
    found = {}
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            permissions = next(d.call.permissions for d in _dependencies(route) if hasattr(d.call, "permissions"))
            for method in route.methods:
                found[(method, route.path)] = permissions
    return found


def _dependencies(route):
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        yield dependency
        pending.extend(dependency.dependencies)


# Personal data in what staff write (notes, reasons, summaries), so every read after is checked for it.
VISIT = {"method": "phone", "resolved": True, "satisfaction": "satisfied", "notes": "回访张桂兰，电话13912345678"}
# A request for each operation: (path parameters beyond the target's ids, query, JSON body). The
# bodies are valid, so a caller that passes the access check meets the jurisdiction check next.
REQUESTS = {
    ("GET", "/api/v1/cases"): ({}, {"region": "{region}"}, None),
    ("POST", "/api/v1/cases"): ({}, {}, "case"),
    ("GET", "/api/v1/cases/{case_id}"): ({}, {}, None),
    ("GET", "/api/v1/cases/{case_id}/similar"): ({}, {}, None),
    ("POST", "/api/v1/cases/{case_id}/unmerge"): ({}, {}, {"report_id": "{case_id}", "reason": "张桂兰称不是同一件事"}),
    ("POST", "/api/v1/cases/{case_id}/return"): ({}, {}, {"reason": "张桂兰（13912345678）反映的事项不属本单位职责"}),
    ("POST", "/api/v1/cases/{case_id}/assign"): ({}, {}, {"unit_id": "no-such-unit", "reason": "统一协调"}),
    ("POST", "/api/v1/cases/{case_id}/escalate"): ({}, {}, {"reason": "久拖未决"}),
    ("POST", "/api/v1/cases/{case_id}/progress"): ({}, {}, {"note": "已电话联系张桂兰13912345678，约定面谈"}),
    ("POST", "/open311/v2/requests.{fmt}"): ({"fmt": "json"}, {}, "open311"),
    ("GET", "/open311/v2/requests.{fmt}"): ({"fmt": "json"}, {}, None),
    ("GET", "/open311/v2/discovery.{fmt}"): ({"fmt": "json"}, {}, None),
    ("GET", "/open311/v2/services.{fmt}"): ({"fmt": "json"}, {}, None),
    ("GET", "/open311/v2/services/{code}.{fmt}"): ({"fmt": "json", "code": "neighbor"}, {}, None),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): ({"fmt": "json", "token": "{case_id}"}, {}, None),
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"): ({"fmt": "json", "request_id": "{case_id}"}, {}, None),
    ("POST", "/api/v1/auth/token"): ({}, {}, "token"),
    ("GET", "/api/v1/admin/clients"): ({}, {}, None),
    ("POST", "/api/v1/admin/clients"): ({}, {}, {"name": "测试", "roles": ["screen"]}),
    ("POST", "/api/v1/admin/clients/{client_id}/disable"): ({"client_id": "no-such-client"}, {}, None),
    ("POST", "/api/v1/admin/clients/{client_id}/rotate"): ({"client_id": "no-such-client"}, {}, None),
    ("GET", "/api/v1/admin/staff"): ({}, {}, None),
    ("POST", "/api/v1/admin/staff"): ({}, {}, "staff"),
    ("PATCH", "/api/v1/admin/staff/{staff_id}"): ({"staff_id": "no-such-staff"}, {}, {"active": False}),
    ("GET", "/api/v1/admin/policy"): ({}, {}, None),
    ("GET", "/api/v1/audit"): ({}, {"limit": "5"}, None),
    ("POST", "/api/v1/imports"): ({}, {}, "ledger"),
    ("GET", "/api/v1/imports/{job_id}"): ({}, {}, None),
    ("GET", "/api/v1/exports/cases.xlsx"): ({}, {"region": "{region}"}, None),
    ("GET", "/api/v1/mediators"): ({}, {"case_id": "{case_id}"}, None),
    ("POST", "/api/v1/mediations"): ({}, {}, {"case_id": "{case_id}", "mediator_ids": ["no-such-mediator"],
                                             "parties": [{"name": "甲", "role": "applicant"},
                                                         {"name": "乙", "role": "respondent"}]}),
    ("GET", "/api/v1/mediations"): ({}, {"case_id": "{case_id}"}, None),
    ("GET", "/api/v1/mediations/figures"): ({}, {"by": "region"}, None),
    ("GET", "/api/v1/mediations/{mediation_id}"): ({}, {}, None),
    ("POST", "/api/v1/mediations/{mediation_id}/sessions"): ({}, {}, {
        "held_at": "2026-11-24T10:00:00", "mode": "phone", "attendees": ["张桂兰"],
        "notes": "张桂兰同意调解，住清泉街社区3号楼2单元501"}),
    ("POST", "/api/v1/mediations/{mediation_id}/outcome"): ({}, {}, {"outcome": "withdrawn", "reasons": "撤回"}),
    ("POST", "/api/v1/mediations/{mediation_id}/agreement"): ({}, {}, {"facts": "漏水", "obligations": []}),
    ("GET", "/api/v1/mediations/{mediation_id}/agreement.pdf"): ({}, {}, None),
    ("POST", "/api/v1/mediations/{mediation_id}/obligations/{obligation_no}/performance"): (
        {"obligation_no": "1"}, {}, {"note": ""}),
    ("POST", "/api/v1/mediations/{mediation_id}/confirmation"): ({}, {}, {"action": "apply", "court": "新城区法院"}),
    ("POST", "/api/v1/cases/{case_id}/resolve"): ({}, {}, {"summary": "已与张桂兰协商，约定维修，电话13912345678"}),
    ("POST", "/api/v1/cases/{case_id}/close"): ({}, {}, {}),
    ("POST", "/api/v1/cases/{case_id}/reopen"): ({}, {}, {"reason": "张桂兰仍不满意"}),
    ("GET", "/api/v1/followups/{case_id}"): ({}, {}, None),
    ("POST", "/api/v1/followups/{case_id}/visits"): ({}, {}, VISIT),
    ("POST", "/api/v1/followups/{case_id}/monitoring"): ({}, {}, {"reason": "volatile", "interval_days": 7}),
    ("POST", "/api/v1/followups/{case_id}/monitoring/checks"): ({}, {}, {"note": "见到张桂兰，情绪稳定"}),
    ("POST", "/api/v1/followups/{case_id}/monitoring/release"): ({}, {}, {"reason": "已化解"}),
    ("GET", "/api/v1/stats"): ({}, {"region": "{region}"}, None),
    ("GET", "/api/v1/screen/stream"): ({}, {"region": "{region}"}, "stream"),
    ("GET", "/screen"): ({}, {}, None),
    ("POST", "/api/v1/subscriptions"): ({}, {}, {"url": "https://203.0.113.10/hook", "types": ["case.assigned"],
                                                 "regions": ["{region}"]}),
    ("GET", "/api/v1/subscriptions"): ({}, {}, None),
    ("GET", "/api/v1/subscriptions/{subscription_id}"): ({"subscription_id": "no-such-sub"}, {}, None),
    ("PATCH", "/api/v1/subscriptions/{subscription_id}"): ({"subscription_id": "no-such-sub"}, {}, {"active": False}),
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): ({"subscription_id": "no-such-sub"}, {}, None),
    ("POST", "/api/v1/subscriptions/{subscription_id}/rotate-secret"): ({"subscription_id": "no-such-sub"}, {}, None),
    ("GET", "/api/v1/subscriptions/{subscription_id}/deliveries"): ({"subscription_id": "no-such-sub"}, {}, None),
    ("POST", "/api/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"): (
        {"subscription_id": "no-such-sub", "delivery_id": "no-such-delivery"}, {}, None),
    ("POST", "/api/v1/subscriptions/{subscription_id}/replay"): ({"subscription_id": "no-such-sub"}, {},
                                                                 {"since": "2026-11-01T00:00:00"}),
    ("GET", "/asyncapi.json"): ({}, {}, None),
    ("GET", "/healthz"): ({}, {}, None),
    ("GET", "/readyz"): ({}, {}, None),
    ("GET", "/metrics"): ({}, {}, None),
}
# Operations whose subject lies in a jurisdiction: out of scope they answer 404 (one resource)
# or 403 (an explicit region filter).
FILTERS = {("GET", "/api/v1/cases"), ("GET", "/api/v1/exports/cases.xlsx"), ("GET", "/api/v1/stats"),
           ("GET", "/api/v1/screen/stream"), ("POST", "/api/v1/subscriptions")}
# Counted per region, so refused to a caller limited to units (they would show other units' cases).
PER_REGION = {("GET", "/api/v1/stats"), ("GET", "/api/v1/screen/stream"), ("GET", "/api/v1/mediations/figures")}
UNSCOPED = {op for op in REQUESTS if op[1].startswith(("/open311", "/api/v1/admin", "/api/v1/auth", "/healthz",
                                                      "/readyz", "/metrics", "/api/v1/audit", "/asyncapi",
                                                      "/api/v1/subscriptions/"))} | {
    ("POST", "/api/v1/cases"), ("POST", "/api/v1/imports"), ("GET", "/api/v1/mediations/figures"),
    ("GET", "/api/v1/subscriptions"), ("GET", "/screen")}
UNSCOPED |= {op for op in declared() if op[1].startswith("/api/v1/intake/")}


def _fill(value, target: dict):
    if isinstance(value, str):
        return value.format(**target)
    if isinstance(value, dict):
        return {k: _fill(v, target) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, target) for v in value]
    return value


def _call(client, key: str, method: str, path: str, target: dict, n: int):
    params, query, body = REQUESTS.get((method, path)) or ({}, {}, "channel")
    url = path.format(**{**target, **_fill(params, target)})
    kwargs = {"params": _fill(query, target)}
    if body == "case":
        kwargs["json"] = _case_body(target["region"], f"X-{target['region']}-{n}")
    elif body == "channel":
        channel = path.split("/")[4]
        example = json.loads(open(f"docs/channels/{channel}.example.json", encoding="utf-8").read())
        for field in ("order_no", "incident_no", "petition_no", "case_no", "report_id"):
            if field in example:
                example[field] = f"{example[field]}-{n}"
        kwargs["json"] = {"items": [example]} if path.endswith("/batch") else example
    elif body == "open311":
        kwargs["data"] = {"api_key": key, "service_code": "neighbor", "description": "楼道堆物",
                          "address_string": "新城区清泉街社区", "attribute[source_id]": f"O-{n}"}
    elif body == "token":
        kwargs["data"] = {"grant_type": "password", "username": "nobody", "password": "wrong-password"}
    elif body == "staff":
        kwargs["json"] = {"username": f"staff{n}", "name": "李明", "roles": ["screen"], "password": "枫桥经验-新城区-1"}
    elif body == "ledger":
        kwargs["files"] = {"file": ("ledger.csv", _ledger(target["region"]).replace(b"LEDGER-", f"L{n}-".encode()))}
    elif body == "stream":
        return _first_frame(client, url, key, kwargs["params"])
    elif body is not None:
        kwargs["json"] = _fill(body, target)
    return client.request(method, url, headers={"X-API-Key": key}, **kwargs)


def _first_frame(client, url: str, key: str, params: dict) -> httpx.Response:
    """A stream's answer up to its first frame (it never ends by itself)."""
    with client.stream("GET", url, params=params, headers={"X-API-Key": key}) as streamed:
        content = b""
        for chunk in streamed.iter_bytes():
            content += chunk
            if b"\n\n" in content:
                break
        return httpx.Response(streamed.status_code, headers=streamed.headers, content=content)


def callers(platform, ids) -> list[tuple[str, tuple[str, ...], str, bool]]:
    """(label, roles, key, limited to units) for every role in 新城区, a unit's handler, and a leader
    holding pii_reader."""
    made = []
    for role in ROLES:
        units = [ids[IN]["unit_id"]] if role == "handler" else []
        # The intake system reads what it submitted: the in-scope case and job are its own.
        key = ids[IN]["intake_key"] if role == "intake" else platform.key(role, regions=[IN], units=units,
                                                                         name=f"矩阵-{role}")
        made.append((role, (role,), key, bool(units)))
    made.append(("leader+pii_reader", ("leader", "pii_reader"),
                 platform.key("leader", "pii_reader", regions=[IN], name="矩阵-pii"), False))
    return made


def test_every_operation_answers_every_role_as_the_policy_says(world):
    platform, ids = world
    operations = declared()
    assert set(REQUESTS) | {op for op in operations if op[1].startswith("/api/v1/intake/")} == set(operations), \
        "an operation of the OpenAPI document has no sample request here"
    policy = Policy.load()
    failures, n = [], 0
    with platform.client() as client:
        for label, roles, key, by_unit in callers(platform, ids):
            may = policy.permissions_of(roles)
            for (method, path), needed in sorted(operations.items()):
                allowed = not needed or bool(may & set(needed))
                for region in (IN, OUT):
                    n += 1
                    answer = _call(client, key, method, path, {**ids[region], "region": region}, n)
                    failures += _judge(label, method, path, region, allowed, by_unit, answer)
                    if allowed and region == OUT and answer.status_code == 404:
                        n += 1
                        absent = _call(client, key, method, path, NONE, n)
                        if _comparable(answer.json(), ids[OUT]) != _comparable(absent.json(), NONE):
                            failures.append(f"{label} {method} {path}: out of scope answers differently from "
                                            f"a resource that does not exist: {answer.text} / {absent.text}")
    print(f"\naccess matrix: {n} calls, {len(ROLES) + 1} callers × {len(operations)} operations × in/out of scope")
    assert not failures, "\n".join(failures[:40])


def _comparable(problem: dict, target: dict) -> dict:
    """A 404 with the resource's id taken out: what a caller can tell from it."""
    text = json.dumps(problem, ensure_ascii=False)
    for resource_id in sorted((target[n] for n in ("case_id", "mediation_id", "job_id")), key=len, reverse=True):
        text = text.replace(resource_id, "<id>")  # longest first: a mediation id holds its case's
    return json.loads(text)


def _judge(label, method, path, region, allowed, by_unit, answer) -> list[str]:
    operation, status = (method, path), answer.status_code
    what = f"{label} {method} {path} ({'in' if region == IN else 'out of'} scope): {status}"
    problems = []
    if status >= 500:
        problems.append(f"{what} is a server error: {answer.text[:200]}")
    elif not allowed and status != 403:
        problems.append(f"{what}, expected 403")
    elif allowed and by_unit and operation in PER_REGION:
        if status != 403:
            problems.append(f"{what}, expected 403 for a caller limited to units")
    elif allowed and region == IN and status in (401, 403):
        problems.append(f"{what}, expected access: {answer.text[:200]}")
    elif allowed and region == OUT and operation not in UNSCOPED:
        expected = 403 if operation in FILTERS else 404
        if status != expected:
            problems.append(f"{what}, expected {expected} outside the jurisdiction: {answer.text[:200]}")
    leaked = [s for s in SECRETS if s in readable(answer)]
    if leaked and "pii_reader" not in label:
        problems.append(f"{what} carries personal data {leaked}")
    return problems


def readable(answer) -> str:
    """The answer as text, whatever its format (spreadsheets and PDFs are compressed)."""
    kind = answer.headers.get("content-type", "")
    if "spreadsheetml" in kind:
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
        return " ".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None)
    if kind.startswith("application/pdf"):
        from pypdf import PdfReader

        return "".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    return answer.content.decode("utf-8", "replace")


def test_lists_and_exports_leave_out_what_lies_outside_the_jurisdiction(world):
    platform, ids = world
    with platform.client(platform.key("dispatcher", regions=[IN])) as county:
        listed = county.get("/api/v1/cases").json()
        numbers = {i["id"] for i in listed["items"]}
        assert ids[IN]["case_id"] in numbers and ids[OUT]["case_id"] not in numbers
        figures = county.get("/api/v1/mediations/figures", params={"by": "region"}).json()["items"]
        assert figures and all(row["region_code"].startswith(IN) for row in figures)
        refused = county.get("/api/v1/mediations/figures", params={"by": "category"})
        assert refused.status_code == 403


def test_a_replayed_submission_names_its_case_only_inside_the_jurisdiction(world):
    platform, ids = world
    with platform.client(platform.key("intake", regions=[IN])) as other_system:
        replay = other_system.post("/api/v1/cases", json=_case_body(OUT, f"M-{OUT}"))
        assert replay.status_code == 409 and ids[OUT]["case_id"] not in replay.text
    with platform.client(ids[OUT]["intake_key"]) as first_system:
        again = first_system.post("/api/v1/cases", json=_case_body(OUT, f"M-{OUT}"))
        assert again.status_code == 202 and again.json()["id"] == ids[OUT]["case_id"]


def test_open311_public_reads_carry_no_personal_data(world):
    platform, _ = world
    with platform.client(platform.key("intake")) as resident_app:
        posted = resident_app.post("/open311/v2/requests.json", data={
            "service_code": "neighbor", "description": "赵德胜家门口楼道堆满杂物，电话13600001111",
            "address_string": "兴业社区5号楼1单元302", "first_name": "德胜", "last_name": "赵",
            "phone": "13600001111", "attribute[source_id]": "OPEN-PII-1"})
        assert posted.status_code == 201, posted.text
        [entry] = posted.json()
    import httpx

    with httpx.Client(base_url=platform.base_url, timeout=15) as anyone:
        def listed():
            found = anyone.get("/open311/v2/requests.json").json()
            return next((r for r in found if r["service_request_id"] == entry["service_request_id"]), None)

        public = wait_until(listed, 30, "the Open311 request listed")
        assert public["description"] is None and public["address"] == "呼和浩特市新城区海拉尔东路街道兴业社区"
        text = anyone.get(f"/open311/v2/requests/{entry['service_request_id']}.xml").text
        assert "<service_request_id>" in text
        assert "13600001111" not in text and "赵德胜" not in text and "1单元302" not in text
        assert anyone.get(f"/open311/v2/tokens/{entry['token']}.json").status_code == 200
        assert anyone.get(f"/open311/v2/tokens/{entry['service_request_id']}.json").status_code == 404
