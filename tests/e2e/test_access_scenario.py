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


def comparable(problem: dict, resource_id: str) -> dict:
    return {**problem, "detail": problem["detail"].replace(resource_id, "<id>"),
            "instance": problem["instance"].replace(resource_id, "<id>")}


@pytest.fixture(scope="module")
def leader_at_work(platform, cases):
    """A county leader (a person, signed in) works its own case and tries another county's."""
    platform.cli("staff", "add", "王振荣", "--username", "wangzr", "--role", "leader", "--role", "pii_reader",
                 "--region", "150102", FQ_STAFF_PASSWORD="新城区综治中心-2026")
    bearer = sign_in(platform, "wangzr", "新城区综治中心-2026")
    own, other = cases["150102"], cases["150525"]
    answers = {}
    with platform.client() as http:
        answers["view"] = http.get(f"/api/v1/cases/{own}", headers=bearer)
        answers["progress"] = http.post(f"/api/v1/cases/{own}/progress", json={"note": "已约双方面谈"},
                                        headers=bearer)
        answers["resolve"] = http.post(f"/api/v1/cases/{own}/resolve", json={"summary": "协调舞队十点前停止播放"},
                                       headers=bearer)
        answers["resolved"] = view_when(http, own, lambda v: v["status"] == "resolved", "resolved")
        for what, method, path, body in [
                ("read", "GET", "/api/v1/cases/{}", None),
                ("progress", "POST", "/api/v1/cases/{}/progress", {"note": "越界"}),
                ("resolve", "POST", "/api/v1/cases/{}/resolve", {"summary": "越界"}),
                ("followup", "GET", "/api/v1/followups/{}", None)]:
            # The other county's case, and one that does not exist: the leader cannot tell them apart.
            answers[f"other {what}"] = http.request(method, path.format(other), json=body, headers=bearer)
            answers[f"none {what}"] = http.request(method, path.format("no-such-case"), json=body, headers=bearer)
        answers["filter"] = http.get("/api/v1/cases", params={"region": "150525"}, headers=bearer)
    return answers


def test_a_county_leader_works_its_own_case_and_is_refused_another_countys(leader_at_work, cases):
    answers = leader_at_work
    assert answers["view"].status_code == 200 and "13847100012" in answers["view"].json()["text"]  # pii_reader
    assert answers["progress"].status_code == 200 and answers["resolve"].status_code == 200
    entry = next(e for e in answers["resolved"]["timeline"] if e["title"] == "办理进展")
    assert entry["by"] == "王振荣（wangzr）"
    for what in ("read", "progress", "resolve", "followup"):
        other, none = answers[f"other {what}"], answers[f"none {what}"]
        assert other.status_code == none.status_code == 404, what
        assert comparable(other.json(), cases["150525"]) == comparable(none.json(), "no-such-case"), what
    assert answers["filter"].status_code == 403


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


def test_the_audit_lists_the_unmasked_reads_by_name(platform, cases, leader_at_work):
    with platform.client(platform.key("auditor", name="市审计员")) as auditor:
        records = auditor.get("/api/v1/audit", params={"actor": "王振荣"}).json()["items"]
        reads = [r for r in records if r["unmasked"]]
        assert reads and reads[0]["actor_login"] == "wangzr" and reads[0]["actor_kind"] == "staff"
        assert {r["case_id"] for r in reads} == {cases["150102"]}
        commands = {r["route"] for r in records if r["method"] == "POST" and r["granted"]}
        assert {"/api/v1/cases/{case_id}/progress", "/api/v1/cases/{case_id}/resolve"} <= commands
        refused = [r for r in records if r["case_id"] == cases["150525"]]
        assert refused and all(r["status"] == 404 for r in refused)
        assert any(r["permission"] == "auth.sign_in" and r["granted"] for r in records)  # the sign-in too
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
