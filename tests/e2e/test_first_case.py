"""The backbone's promise: a hotline case posted at the gateway comes back assigned."""
from __future__ import annotations

import httpx

from fengqiao.store import open_store
from tests.e2e.conftest import start_platform, stop_platform, view_when

HOTLINE_ORDER = {
    "channel": "hotline_12345",
    "source_id": "GD-20261122-0042",
    "text": "市民来电反映：新城区海拉尔东路清泉街社区3号楼楼上住户卫生间漏水两个月，"
            "多次上门协商未果，天花板已发霉，请求相关部门协调处理。",
    "address": "呼和浩特市新城区海拉尔东路街道清泉街社区3号楼2单元501",
    "region_code": "150102",
    "reporter": {"name": "李女士", "phone": "13947100000"},
}


def assigned_view(client: httpx.Client, case_id: str) -> dict:
    return view_when(client, case_id, lambda v: v["status"] == "assigned", f"case {case_id} assigned")


def test_a_hotline_case_is_registered_and_assigned(platform):
    with platform.client() as client:
        accepted = client.post("/api/v1/cases", json=HOTLINE_ORDER)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["status"] == "received" and body["number"].startswith("FQ-")
        view = assigned_view(client, body["id"])
    assert view["number"] == body["number"]
    assert view["category"] == "neighbor" and view["risk"] == 1
    assert {k: view["assignment"][k] for k in ("level", "region_code", "unit_id", "unit_name")} == {
        "level": "county", "region_code": "150102", "unit_id": "center-150102", "unit_name": "新城区综治中心"}
    assert [e["title"] for e in view["timeline"]] == ["受理登记", "研判", "分派"]
    assert view["text"] == HOTLINE_ORDER["text"]


def test_posting_the_same_order_twice_makes_one_case(platform):
    order = {**HOTLINE_ORDER, "source_id": "GD-20261122-0043", "reporter": {"name": "赵先生", "phone": "13947100043"},
             "text": "市民来电反映：小区东侧道路路灯已经坏了一个月，夜间出行不安全，请求维修。"}
    with platform.client() as client:
        first = client.post("/api/v1/cases", json=order).json()
        second = client.post("/api/v1/cases", json=order)
        assert second.status_code == 202 and second.json()["id"] == first["id"]
        assigned_view(client, first["id"])
    intake = open_store(f"sqlite:///{platform.data_dir / 'store'}", "intake")
    assert intake.collection("reports").count({"channel": "hotline_12345", "source_id": "GD-20261122-0043"}) == 1
    assert intake.collection("cases").get(first["id"])["report_count"] == 1


def test_a_case_from_an_unknown_region_goes_to_the_triage_desk(platform):
    order = {**HOTLINE_ORDER, "source_id": "GD-20261122-0044", "region_code": "150199", "address": None,
             "reporter": None, "text": "来电人反映邻居家的狗整夜狂叫，影响休息，多次沟通无果。"}
    with platform.client() as client:
        view = assigned_view(client, client.post("/api/v1/cases", json=order).json()["id"])
    assert view["assignment"]["unit_name"] == "综治中心分流台"
    assert "150199 不在目录中" in view["timeline"][-1]["detail"]


def test_services_and_gateway_expose_metrics(platform):
    with platform.client() as client:
        gateway_metrics = client.get("/metrics").text
    assert "fengqiao_http_requests_total" in gateway_metrics
    services_metrics = httpx.get(platform.metrics_url, timeout=5).text
    assert 'fengqiao_cases_received_total{channel="hotline_12345"}' in services_metrics
    assert 'fengqiao_events_handled_total{event="case_assigned",service="search"}' in services_metrics


def test_ctrl_c_stops_everything_cleanly(tmp_path, vhost_uri):
    platform = start_platform(tmp_path, vhost_uri)
    assert stop_platform(platform) == 0
    log = platform.log.read_text()
    assert "stopped" in log
    try:
        httpx.get(f"{platform.base_url}/healthz", timeout=2)
        raise AssertionError("the gateway still answers after Ctrl-C")
    except httpx.ConnectError:
        pass
