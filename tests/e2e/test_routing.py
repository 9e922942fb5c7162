"""Routing through the running platform on a fake clock: grade 3 to the county center with a
lead, deadlines warned and escalated as the clock moves, returns, reassignment, re-grading."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import start_clocked_platform, stop_platform, view_when


@pytest.fixture(scope="module")
def clocked(tmp_path_factory, vhost_uri):
    running, clock = start_clocked_platform(tmp_path_factory.mktemp("routing"), vhost_uri)
    yield running, clock
    stop_platform(running)


def post(client, order_no, text, region="150102001001", phone="13700000000"):
    response = client.post("/api/v1/intake/hotline_12345", json={
        "order_no": order_no, "call_time": "2026-11-23T08:55:00+08:00", "caller_phone": phone,
        "content": text, "region_code": region})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_a_grade_three_case_goes_to_the_county_center_with_a_lead(clocked):
    platform, _ = clocked
    with platform.client() as client:
        case_id = post(client, "R-3", "来电人称邻居因为排水沟的事扬言今晚要拿刀砍死他全家，情绪很激动。")
        view = view_when(client, case_id, lambda v: v["status"] == "assigned", "grade 3 assigned")
    assert view["risk"] == 3 and view["assignment"]["unit_name"] == "新城区综治中心"
    assert view["assignment"]["level"] == "county" and view["assignment"]["lead"]
    assert any("扬言伤人" in r or "携带凶器" in r for r in view["triage"]["reasons"])


def test_deadlines_warn_then_escalate_as_the_clock_moves(clocked):
    platform, clock = clocked
    with platform.client() as client:
        case_id = post(client, "R-D", "来电人反映楼上住户厨房下水管道堵塞返水，地面泡坏，协商无果。",
                       phone="13700000001")
        view_when(client, case_id, lambda v: v["status"] == "assigned", "assigned")
        clock.advance(hours=24)  # 48 h before the 3-day first response
        warned = view_when(client, case_id, lambda v: any(e["title"] == "临期预警" for e in v["timeline"]),
                           "48 h warning")
        assert "剩余48小时" in warned["timeline"][-1]["detail"]
        clock.advance(hours=48)  # the deadline passes
        # The escalation and the new assignment are two events, projected by concurrent workers:
        # wait for both, not only the first.
        escalated = view_when(client, case_id, lambda v: v.get("escalated") and
                              (v.get("assignment") or {}).get("kind") == "escalation", "escalated when overdue")
    titles = [e["title"] for e in escalated["timeline"]]
    assert titles.index("逾期") < titles.index("提级督办") < titles.index("提级交办")
    assert escalated["assignment"]["unit_name"] == "海拉尔东路街道综治中心"
    assert escalated["overdue"] is False  # the new unit has a fresh deadline


def test_returns_reassign_and_the_third_makes_a_problem_case(clocked):
    platform, _ = clocked
    with platform.client() as client:
        case_id = post(client, "R-R", "来电人反映在医院做完手术后伤口感染，医院拒不承认存在过错。", phone="13700000002")
        first = view_when(client, case_id, lambda v: v["status"] == "assigned", "assigned")
        assert first["assignment"]["unit_name"] == "新城区医疗纠纷人民调解委员会"
        for n in range(1, 4):
            response = client.post(f"/api/v1/cases/{case_id}/return", json={"reason": f"非本单位职责{n}"})
            assert response.status_code == 200, response.text
            view_when(client, case_id, lambda v, n=n: v.get("returns") == n, f"return {n} projected")
        problem = view_when(client, case_id, lambda v: v.get("problem_case"), "problem case")
        assert [e["title"] for e in problem["timeline"]].count("退单") == 3
        target = "center-150100" if problem["assignment"]["unit_id"] != "center-150100" else "center-150102"
        manual = client.post(f"/api/v1/cases/{case_id}/assign", json={"unit_id": target, "reason": "中心统一协调"})
        assert manual.status_code == 200
        moved = view_when(client, case_id, lambda v: v["assignment"]["kind"] == "manual", "manual reassignment")
        assert moved["assignment"]["by"] == "市综治中心包案领导（系统）" and moved["assignment"]["unit_id"] == target
        manual_entry = next(e for e in moved["timeline"] if e["title"] == "人工改派")
        assert manual_entry["by"] == "市综治中心包案领导（系统）"
        assert next(e for e in moved["timeline"] if e["title"] == "研判")["by"] == "分派研判系统（系统）"
        refused = client.post(f"/api/v1/cases/{case_id}/assign", json={"unit_id": "nowhere", "reason": "x"})
        assert refused.status_code == 409 and "no unit" in refused.json()["detail"]
        assert client.post("/api/v1/cases/unknown/return", json={"reason": "x"}).status_code == 404
        progress = client.post(f"/api/v1/cases/{case_id}/progress", json={"note": "已约双方下周调解"})
        assert progress.status_code == 200
        view_when(client, case_id, lambda v: v["timeline"][-1]["title"] == "办理进展", "progress on the timeline")


def test_a_third_report_of_the_incident_raises_the_grade(clocked):
    platform, clock = clocked
    text = "来电人反映清泉街社区5号楼东侧化粪池冒水，污水流到路面，臭味很大。"
    with platform.client() as client:
        case_id = post(client, "R-M1", text, phone="13700000003")
        view_when(client, case_id, lambda v: v["status"] == "assigned", "assigned")
        for n, phone in ((2, "13700000004"), (3, "13700000005")):
            clock.advance(hours=2)
            post(client, f"R-M{n}", text.replace("来电人反映", "居民再次反映"), phone=phone)
        raised = view_when(client, case_id, lambda v: v["report_count"] == 3 and v["risk"] == 2
                           and v["assignment"]["kind"] == "regrade", "re-graded and reassigned")
    assert raised["assignment"]["kind"] == "regrade" and raised["assignment"]["level"] == "township"
