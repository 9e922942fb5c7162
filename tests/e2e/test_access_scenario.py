"""People at work through the running platform: a county leader signs in, works a case of its
county and is refused another county's; a screen key is refused every command; the auditor
finds the leader's unmasked reads by name; the README's commands work with the bootstrap key."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN_KEY, view_when

CASES = {
    "150102": ("新城区", "来电人王秀英反映：兴业社区广场舞音响每晚十点后仍很吵，老人无法入睡，电话13847100012。",
               "13847100012"),
    "150525": ("奈曼旗", "来电人包金花反映：西湖村邻居家院墙倒塌压坏自家菜地，电话13947500021。", "13947500021"),
}


@pytest.fixture(scope="module")
def cases(platform):
    ids = {}
    with platform.client() as city:
        for region, (_, text, phone) in CASES.items():
            accepted = city.post("/api/v1/cases", json={
                "channel": "hotline_12345", "source_id": f"ACC-{region}", "text": text, "region_code": region,
                "reporter": {"name": text[3:6], "phone": phone}})
            assert accepted.status_code == 202, accepted.text
            ids[region] = accepted.json()["id"]
        for case_id in ids.values():
            view_when(city, case_id, lambda v: v["status"] == "assigned", "assigned")
    return ids


def sign_in(platform, username: str, password: str) -> dict:
    with platform.client() as anyone:
        answer = anyone.post("/api/v1/auth/token", data={"grant_type": "password", "username": username,
                                                          "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}", "X-API-Key": ""}


def test_a_county_leader_works_its_own_case_and_is_refused_another_countys(platform, cases):
    with platform.admin() as admin:
        made = admin.post("/api/v1/admin/staff", json={
            "username": "wangzr", "name": "王振荣", "roles": ["leader", "pii_reader"], "regions": ["150102"],
            "password": "新城区综治中心-2026"})
        assert made.status_code == 201, made.text
    bearer = sign_in(platform, "wangzr", "新城区综治中心-2026")
    own, other = cases["150102"], cases["150525"]
    with platform.client() as http:
        view = http.get(f"/api/v1/cases/{own}", headers=bearer)
        assert view.status_code == 200 and "13847100012" in view.json()["text"]  # pii_reader: unmasked
        assert http.post(f"/api/v1/cases/{own}/progress", json={"note": "已约双方面谈"},
                         headers=bearer).status_code == 200
        assert http.post(f"/api/v1/cases/{own}/resolve", json={"summary": "协调舞队十点前停止播放"},
                         headers=bearer).status_code == 200
        resolved = view_when(http, own, lambda v: v["status"] == "resolved", "resolved")
        entry = next(e for e in resolved["timeline"] if e["title"] == "办理进展")
        assert entry["by"] == "王振荣（wangzr）"
        for method, path, body in [("GET", f"/api/v1/cases/{other}", None),
                                   ("POST", f"/api/v1/cases/{other}/progress", {"note": "越界"}),
                                   ("POST", f"/api/v1/cases/{other}/resolve", {"summary": "越界"}),
                                   ("GET", f"/api/v1/followups/{other}", None)]:
            refused = http.request(method, path, json=body, headers=bearer)
            assert refused.status_code == 404, (path, refused.text)  # as if it did not exist
            assert other not in refused.json()["detail"] or "no case" in refused.json()["detail"]
        assert http.get("/api/v1/cases", params={"region": "150525"}, headers=bearer).status_code == 403


def test_a_screen_key_is_refused_every_command(platform, cases):
    with platform.client(platform.key("screen", name="指挥中心大屏")) as wall:
        assert wall.get("/api/v1/stats").status_code == 200
        case_id = cases["150102"]
        for path, body in [(f"/api/v1/cases/{case_id}/assign", {"unit_id": "u", "reason": "x"}),
                           (f"/api/v1/cases/{case_id}/return", {"reason": "x"}),
                           (f"/api/v1/cases/{case_id}/close", {}),
                           ("/api/v1/mediations", {"case_id": case_id, "mediator_ids": ["m"],
                                                   "parties": [{"name": "甲", "role": "applicant"},
                                                               {"name": "乙", "role": "respondent"}]}),
                           (f"/api/v1/followups/{case_id}/visits", {"method": "phone", "resolved": True,
                                                                    "satisfaction": "satisfied"}),
                           ("/api/v1/cases", {"channel": "walk_in", "text": "x"})]:
            assert wall.post(path, json=body).status_code == 403, path
        assert wall.get(f"/api/v1/cases/{case_id}").status_code == 403  # no case text on the wall


def test_the_audit_lists_the_unmasked_reads_by_name(platform, cases):
    with platform.client(platform.key("auditor", name="市审计员")) as auditor:
        records = auditor.get("/api/v1/audit", params={"actor": "王振荣"}).json()["items"]
        reads = [r for r in records if r["unmasked"]]
        assert reads and reads[0]["actor_login"] == "wangzr" and reads[0]["actor_kind"] == "staff"
        assert {r["case_id"] for r in reads} == {cases["150102"]}
        commands = {r["route"] for r in records if r["method"] == "POST" and r["granted"]}
        assert {"/api/v1/cases/{case_id}/progress", "/api/v1/cases/{case_id}/resolve"} <= commands
        refused = [r for r in records if r["case_id"] == cases["150525"]]
        assert refused and all(r["status"] == 404 for r in refused)
        own_reads = auditor.get("/api/v1/audit", params={"actor": "市审计员"}).json()["items"]
        assert own_reads and own_reads[0]["permission"] == "audit.read"


def test_the_readme_commands_work_with_the_bootstrap_key(platform):
    with platform.client(ADMIN_KEY) as admin:
        posted = admin.post("/api/v1/cases", json={
            "channel": "hotline_12345", "source_id": "GD-20261122-0001",
            "text": "市民来电反映楼上住户卫生间漏水两个月，协商未果。", "region_code": "150102"})
        assert posted.status_code == 202
        view = view_when(admin, posted.json()["id"], lambda v: v["status"] == "assigned", "assigned")
        assert view["assignment"]["unit_name"]
