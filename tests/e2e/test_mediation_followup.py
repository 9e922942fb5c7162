"""Mediation and follow-up through the running platform on a fake clock: a case from posting to
closing through mediation, an agreement (its PDF read back), judicial confirmation, performance
and a satisfied visit; a case reopened on 不满意 that reaches a second unit; monitoring checks
that fall due as the clock moves."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from tests.e2e.conftest import START, start_clocked_platform, stop_platform, view_when

COMMUNITY = "150102001001"  # 清泉街社区, 新城区


@pytest.fixture(scope="module")
def clocked(tmp_path_factory, vhost_uri):
    running, clock = start_clocked_platform(tmp_path_factory.mktemp("mediation"), vhost_uri)
    yield running, clock
    stop_platform(running)


def post(client, order_no: str, text: str, phone: str) -> str:
    response = client.post("/api/v1/intake/hotline_12345", json={
        "order_no": order_no, "call_time": "2026-11-23T08:55:00+08:00", "caller_phone": phone,
        "content": text, "region_code": COMMUNITY})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def resolved_directly(client, order_no: str, text: str, phone: str, summary: str) -> tuple[str, dict]:
    """A posted case, assigned, then settled by its unit without mediation: (id, its assignment)."""
    case_id = post(client, order_no, text, phone)
    assigned = view_when(client, case_id, lambda v: v["status"] == "assigned", "assigned")["assignment"]
    ok(client.post(f"/api/v1/cases/{case_id}/resolve", json={"summary": summary}))
    view_when(client, case_id, lambda v: v["status"] == "resolved" and v.get("followup"), "resolved")
    return case_id, assigned


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def refused(response, state: str) -> dict:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["current_state"] == state, problem
    return problem


def test_a_case_travels_from_posting_to_closing_through_mediation(clocked):
    platform, clock = clocked
    with platform.client() as client:
        case_id = post(client, "M-1", "来电人反映楼上住户卫生间漏水，自家天花板发霉，多次协商无果，要求赔偿维修费。",
                       "13912345678")
        view_when(client, case_id, lambda v: v["status"] == "assigned", "assigned")

        suggested = ok(client.get("/api/v1/mediators", params={"case_id": case_id}))["items"]
        assert suggested and suggested[0]["score"] >= suggested[-1]["score"]
        assert any(r.startswith("属地") for r in suggested[0]["reasons"])
        opened = ok(client.post("/api/v1/mediations", json={
            "case_id": case_id, "mediator_ids": [suggested[0]["id"]],
            "parties": [{"name": "张桂兰", "role": "applicant", "phone": "13912345678"},
                        {"name": "李建国", "role": "respondent", "phone": "13800001111"}]}), 201)
        mediation = opened["id"]
        view_when(client, case_id, lambda v: v["status"] == "mediating", "mediating")
        refused(client.post(f"/api/v1/cases/{case_id}/close", json={}), "unresolved")

        ok(client.post(f"/api/v1/mediations/{mediation}/sessions", json={
            "held_at": "2026-11-24T14:00:00", "mode": "in_person", "place": "清泉街社区调解室",
            "attendees": ["张桂兰", "李建国"], "notes": "双方同意由李建国承担维修费用并赔礼道歉。"}))
        due = (START + timedelta(days=10)).date().isoformat()
        ok(client.post(f"/api/v1/mediations/{mediation}/agreement", json={
            "facts": "李建国家卫生间防水层老化漏水，致张桂兰家天花板发霉，双方就维修与赔偿发生争议。",
            "obligations": [{"party": "李建国", "description": "赔偿张桂兰维修费", "amount": 3500, "due_date": due},
                            {"party": "李建国", "description": "重做卫生间防水层", "due_date": due}],
            "performance_method": "维修费通过银行转账一次付清；防水工程完工后由社区网格员验收。"}))
        view_when(client, case_id, lambda v: v["status"] == "agreed", "agreed")

        late = refused(client.post(f"/api/v1/mediations/{mediation}/sessions", json={
            "held_at": "2026-11-25T14:00:00", "mode": "phone", "attendees": ["张桂兰"], "notes": "补充"}), "agreed")
        assert late["allowed"] == ["apply_confirmation", "record_performance"] and late["action"] == "log_session"

        pdf = client.get(f"/api/v1/mediations/{mediation}/agreement.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        for expected in ("人民调解协议书", "清泉街社区人民调解委员会", "申请人：张**", "被申请人：李**",
                         "3,500.00元", "天花板发霉", "银行转账", "司法确认", "人民调解委员会（印章）",
                         suggested[0]["name"]):
            assert expected in text, expected
        # A leader without pii_reader sees neither the parties' names nor their numbers, even in the facts.
        assert "139****5678" in text and "13912345678" not in text
        assert "张桂兰" not in text and "李建国" not in text
        with platform.client(platform.key("mediator", "pii_reader")) as reader:
            plain = reader.get(f"/api/v1/mediations/{mediation}/agreement.pdf")
        plain_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(plain.content)).pages)
        assert "申请人：张桂兰" in plain_text and "被申请人：李建国" in plain_text and "13912345678" in plain_text

        ok(client.post(f"/api/v1/mediations/{mediation}/confirmation", json={"action": "apply",
                                                                             "court": "新城区人民法院"}))
        ok(client.post(f"/api/v1/mediations/{mediation}/confirmation", json={
            "action": "decide", "accepted": True, "reference": "(2026)内0102民特12号"}))
        ok(client.post(f"/api/v1/mediations/{mediation}/confirmation", json={
            "action": "rule", "result": "confirmed", "reference": "(2026)内0102民特12号"}))

        clock.advance(days=9)  # the obligations fall due in under 48 hours
        view_when(client, case_id, lambda v: any(e["title"] == "调解临期预警" and "履行期限" in e["detail"]
                                                 for e in v["timeline"]), "obligation warned")
        ok(client.post(f"/api/v1/mediations/{mediation}/obligations/1/performance", json={"note": "已转账"}))
        ok(client.post(f"/api/v1/mediations/{mediation}/obligations/2/performance", json={"note": "已验收"}))
        resolved = view_when(client, case_id, lambda v: v["status"] == "resolved" and v.get("followup"), "resolved")
        assert resolved["resolution"]["resolution"] == "mediated"

        waiting = refused(client.post(f"/api/v1/cases/{case_id}/close", json={}), "awaiting_visit")
        assert "销账必回访" in waiting["rule"] and waiting["allowed"] == ["record_visit", "reopen"]
        ok(client.post(f"/api/v1/followups/{case_id}/visits", json={
            "method": "phone", "resolved": True, "satisfaction": "满意", "notes": "群众对调解结果表示满意"}))
        ok(client.post(f"/api/v1/cases/{case_id}/close", json={"note": "回访满意，予以销号"}))
        # Events of one source are projected by concurrent workers: wait for the last step's
        # neighbours too, not only the closing status.
        closed = view_when(client, case_id, lambda v: v["status"] == "closed" and {"回访", "办结销号"} <= {
            e["title"] for e in v["timeline"]}, "closed")

        figures = ok(client.get("/api/v1/mediations/figures", params={"by": "region"}))["items"]
    titles = [e["title"] for e in closed["timeline"]]
    for step in ("受理登记", "分派", "启动调解", "调解会", "达成调解协议", "申请司法确认", "司法确认受理",
                 "司法确认裁定", "调解临期预警", "履行", "协议履行完毕", "化解办结", "安排回访", "回访", "办结销号"):
        assert step in titles, step
    assert titles.index("启动调解") < titles.index("达成调解协议") < titles.index("化解办结") < titles.index("办结销号")
    county = next(row for row in figures if row["key"] == "150102")
    assert county["name"] == "新城区" and county["agreed"] >= 1 and county["performed"] >= 1
    assert county["confirmed"] >= 1 and county["amount"] >= 3500 and county["parties"] >= 2


def test_an_unsatisfied_visit_reopens_the_case_and_a_second_unit_gets_it(clocked):
    platform, _ = clocked
    with platform.client() as client:
        case_id, first = resolved_directly(
            client, "M-2", "来电人反映楼下烧烤店油烟直排，熏得家里窗户不敢开，多次反映无果。", "13912340002",
            "已责令店家加装油烟净化器")
        answer = ok(client.post(f"/api/v1/followups/{case_id}/visits", json={
            "method": "in_person", "resolved": False, "satisfaction": "unsatisfied", "notes": "净化器装了但没开"}))
        assert [e["type"] for e in answer["events"]] == ["followup_done", "case_reopened"]
        again = view_when(client, case_id, lambda v: v["status"] == "assigned" and v["assignment"]["kind"] == "reopen"
                          and any(e["title"] == "回访" for e in v["timeline"]), "reassigned after the reopen")
        refused(client.post(f"/api/v1/cases/{case_id}/close", json={}), "reopened")
    assert again["assignment"]["unit_id"] != first["unit_id"]
    assert again["reopens"] == 1
    titles = [e["title"] for e in again["timeline"]]
    assert titles.index("回访") < titles.index("重新打开") < titles.index("重新交办")


def test_monitoring_checks_fall_due_and_block_closing_until_released(clocked):
    platform, clock = clocked
    with platform.client() as client:
        case_id, _ = resolved_directly(
            client, "M-3", "来电人反映与邻居因宅基地边界多年不和，此前已调解，但双方仍互不理睬、时有口角。",
            "13912340003", "已重新丈量并确认边界")
        ok(client.post(f"/api/v1/followups/{case_id}/visits", json={
            "method": "phone", "resolved": True, "satisfaction": "基本满意", "notes": "表面接受，心里仍有疙瘩"}))
        ok(client.post(f"/api/v1/followups/{case_id}/monitoring", json={
            "reason": "事了心不顺", "interval_days": 7, "note": "每周由网格员走访"}), 201)
        blocked = refused(client.post(f"/api/v1/cases/{case_id}/close", json={}), "monitoring")
        assert blocked["allowed"] == ["release_monitoring"]

        clock.advance(days=7)
        view_when(client, case_id, lambda v: any(e["title"] == "管控回查到期" for e in v["timeline"]), "check due")
        clock.advance(days=1)
        late = view_when(client, case_id, lambda v: any("已逾期1天" in e["detail"] for e in v["timeline"]),
                         "a missed check alerts again the next day")
        assert late["monitoring"]["active"] is True
        ok(client.post(f"/api/v1/followups/{case_id}/monitoring/checks", json={"note": "双方已能正常打招呼"}))
        ok(client.post(f"/api/v1/followups/{case_id}/monitoring/release", json={"reason": "关系缓和，解除管控"}))
        ok(client.post(f"/api/v1/cases/{case_id}/close", json={}))
        view_when(client, case_id, lambda v: v["status"] == "closed", "closed")


def test_an_open311_request_merged_into_a_case_reads_as_that_case_until_it_closes(clocked):
    """A resident's app files the incident a caller had already reported: intake merges it, and
    Open311 shows the primary case's unit and status under the request's own id, closed when it is."""
    platform, _ = clocked
    text = "清泉街社区3号楼2单元501楼上卫生间漏水，渗到我家天花板，已经一个星期了，物业一直不来修。"
    with platform.client() as client:
        case_id = post(client, "M-OPEN311", "来电人反映" + text, "13912340004")
        unit = view_when(client, case_id, lambda v: v["status"] == "assigned", "assigned")["assignment"]["unit_name"]
        with platform.client(platform.key("intake")) as resident_app:
            posted = resident_app.post("/open311/v2/requests.json", data={
                "service_code": "property_mgmt", "description": text, "address_string": "新城区清泉街社区3号楼2单元501",
                "phone": "13912340004", "attribute[source_id]": "OPEN-MERGE-1"})
        assert posted.status_code == 201, posted.text
        request_id = posted.json()[0]["service_request_id"]
        merged = view_when(client, request_id, lambda v: v["status"] == "merged", "the request merged")
        assert merged["merged_into"] == case_id

        def public() -> dict:
            response = client.get(f"/open311/v2/requests/{request_id}.json")
            assert response.status_code == 200, response.text
            return response.json()[0]

        shown = public()
        assert (shown["service_request_id"], shown["status"], shown["agency_responsible"]) == (request_id, "open", unit)
        assert shown["status_notes"] == f"已分派：{unit}" and shown["service_code"] == "property_mgmt"
        assert shown["requested_datetime"] is not None
        assert shown["address"] == "呼和浩特市新城区海拉尔东路街道清泉街社区"
        ok(client.post(f"/api/v1/cases/{case_id}/resolve", json={"summary": "物业已更换楼上防水层"}))
        view_when(client, case_id, lambda v: v["status"] == "resolved" and v.get("followup"), "resolved")
        ok(client.post(f"/api/v1/followups/{case_id}/visits", json={
            "method": "phone", "resolved": True, "satisfaction": "满意", "notes": "漏水已止"}))
        ok(client.post(f"/api/v1/cases/{case_id}/close", json={}))
        view_when(client, case_id, lambda v: v["status"] == "closed", "closed")
        closed = public()
    assert (closed["status"], closed["status_notes"], closed["agency_responsible"]) == ("closed", "已办结销号", unit)
