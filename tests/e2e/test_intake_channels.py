"""Every channel and Open311 through the running platform, merging and unmerging, masking."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import view_when

DOCS = Path(__file__).parents[2] / "docs" / "channels"
# Where each example lands: the region inferred from its address (or given), and the unit that
# the routing rules pick there (a scuffle or a repeated petition or a large sum: the township;
# an industry matter: the competent department; an ordinary one: the village, as the hotline's
# leak from the flat above goes to its community's mediation committee).
LANDS = {
    "hotline_12345": ("150102001001", "清泉街社区人民调解委员会"),
    "police_110": ("150525100202", "大沁他拉镇综治中心"),
    "petition": ("150824100201", "海流图镇综治中心"),
    "court": ("150802001", "车站街道综治中心"),
    "grid": ("150102001001001", "新城区生态环境分局"),
    "walk_in": ("510183001", "邛崃市市场监督管理局"),
}


def example(channel: str) -> dict:
    return json.loads((DOCS / f"{channel}.example.json").read_text(encoding="utf-8"))


def assigned(client, case_id):
    return view_when(client, case_id, lambda v: v["status"] == "assigned", f"{case_id} assigned")


def test_every_channel_is_registered_where_it_happened(platform):
    with platform.client() as client:
        ids = {}
        for channel in LANDS:
            response = client.post(f"/api/v1/intake/{channel}", json=example(channel))
            assert response.status_code == 202, response.text
            ids[channel] = response.json()["id"]
        for channel, (region, unit) in LANDS.items():
            view = assigned(client, ids[channel])
            assert (view["region_code"], view["assignment"]["unit_name"]) == (region, unit), channel
            assert view["channel"] == channel and view["report_count"] == 1
    petition = assigned(platform.client(), ids["petition"])
    assert petition["facts"]["petitioner_count"] == 6 and petition["region_source"] == "address"


def test_open311_requests_round_trip(platform):
    form = {"api_key": "e2e-admin-key", "service_code": "environment", "address_string": "奈曼旗大沁他拉镇白音他拉嘎查",
            "description": "嘎查东头采沙场夜间作业噪音很大，牧民休息不好。", "lat": "42.85", "long": "120.66"}
    with platform.client() as client:
        created = client.post("/open311/v2/requests.json", data=form)
        assert created.status_code == 201, created.text
        request_id = created.json()[0]["service_request_id"]
        assigned(client, request_id)
        [single] = client.get(f"/open311/v2/requests/{request_id}.json").json()
        assert single["status"] == "open" and single["status_notes"] == "已分派：奈曼旗生态环境分局"
        assert single["agency_responsible"] == "奈曼旗生态环境分局" and single["lat"] == 42.85
        listed = client.get("/open311/v2/requests.json", params={"service_code": "environment"}).json()
        assert request_id in [r["service_request_id"] for r in listed]
        xml = client.get("/open311/v2/requests.xml", params={"service_request_id": request_id}).text
        assert f"<service_request_id>{request_id}</service_request_id>" in xml
        assert client.get("/open311/v2/requests/nothing.json").status_code == 404


LEAK = {
    "order_no": "12345-M-0001", "call_time": "2026-11-21T09:00:00+08:00", "caller_name": "高先生",
    "caller_phone": "15904710001", "order_type": "投诉",
    "content": "来电人反映兴业社区6号楼1单元301室厨房下水管道堵塞返水一个月，地面泡坏，身份证150103198001011234。",
    "address": "呼和浩特市新城区海拉尔东路街道兴业社区6号楼1单元301",
}
LEAK_AGAIN = {
    "report_id": "WG-M-0002", "kind": "visit", "grid_code": "150102001001001",
    "worker": {"name": "张网格"}, "resident": {"name": "高先生", "phone": "159****0001"},
    "reported_at": "2026-11-22T10:00:00+08:00",
    "description": "住戶反映6號樓301室廚房下水管道堵塞返水一個月，地面泡壞，協商無果。",
    "location": {"address": "兴业社区6号楼1单元"},
}


def test_a_second_report_of_the_same_leak_merges_and_can_be_split_out(platform):
    with platform.client() as client:
        first = client.post("/api/v1/intake/hotline_12345", json=LEAK).json()["id"]
        assigned(client, first)
        second = client.post("/api/v1/intake/grid", json=LEAK_AGAIN).json()["id"]
        pointer = view_when(client, second, lambda v: v["status"] == "merged", "second report merged")
        assert pointer["merged_into"] == first
        case = view_when(client, first, lambda v: v["report_count"] == 2, "case shows two reports")
        merge_line = case["timeline"][-1]
        assert merge_line["title"] == "合并重复诉求" and "同一来电号码" in merge_line["detail"]
        refused = client.post(f"/api/v1/cases/{first}/unmerge", json={"report_id": first, "reason": "x"})
        assert refused.status_code == 409 and "own first report" in refused.json()["detail"]
        split = client.post(f"/api/v1/cases/{first}/unmerge", json={"report_id": second, "reason": "经核实为不同住户"})
        assert split.status_code == 200, split.text
        restored = assigned(client, second)
        assert restored["merged_into"] is None and restored["report_count"] == 1
        case = view_when(client, first, lambda v: v["report_count"] == 1, "case back to one report")
        assert case["timeline"][-1]["title"] == "拆分重复诉求"
        missing = client.post("/api/v1/cases/nope/unmerge", json={"report_id": second, "reason": "x"})
        assert missing.status_code == 404


def test_personal_numbers_are_masked_unless_the_role_may_see_them(platform):
    order = {"order_no": "12345-P-0001", "call_time": "2026-11-21T11:00:00+08:00", "caller_name": "钱女士",
             "caller_phone": "15804710777", "address": "呼和浩特市玉泉区小召前街街道大召社区",
             "content": "来电人反映孩子被邻居家未拴绳的狗咬伤，狗主人拒绝赔偿医药费，"
                        "其身份证号150104198502023457，备用电话0471-5551234。"}
    with platform.client() as client:
        case_id = client.post("/api/v1/intake/hotline_12345", json=order).json()["id"]
        masked = assigned(client, case_id)
    text = json.dumps(masked, ensure_ascii=False)
    assert masked["reporter"]["phone"] == "158****0777"
    assert "150104********3457" in masked["text"] and "0471-***1234" in masked["text"]
    assert "15804710777" not in text and "150104198502023457" not in text and "5551234" not in text
    key = subprocess.run([sys.executable, "-m", "fengqiao.cli", "clients", "add", "调解员甲", "--role", "mediator",
                          "--role", "pii_reader"],
                         env={**platform.env}, capture_output=True, text=True, check=True).stdout.strip()
    with httpx.Client(base_url=platform.base_url, headers={"X-API-Key": key}) as reader:
        plain = reader.get(f"/api/v1/cases/{case_id}").json()
    assert plain["reporter"]["phone"] == "15804710777" and "150104198502023457" in plain["text"]
    assert plain["id_numbers"] == ["150104198502023457"]


def test_the_case_list_filters_by_region_subtree(platform):
    with platform.client() as client:
        visit = {**example("walk_in"), "ticket_no": "CK-LIST-1", "visitor": {"name": "吴某", "phone": "18600000001"},
                 "content": "来访人反映所住小区停车位被物业擅自出租给外来车辆，业主停车困难。"}
        case_id = client.post("/api/v1/intake/walk_in", json=visit).json()["id"]
        assigned(client, case_id)
        page = client.get("/api/v1/cases", params={"region": "510183", "limit": 100}).json()
        assert case_id in [c["id"] for c in page["items"]]
        assert all(c["region_code"].startswith("510183") for c in page["items"])
        assert page["total"] == len(page["items"])
        bad = client.get("/api/v1/cases", params={"region": "51x"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "region"
