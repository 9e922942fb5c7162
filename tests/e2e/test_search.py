"""Search through the running platform: cases posted at the gateway are found by phrase, filter
and phone tail, with snippets; a client limited to one county sees nothing outside it, in the
list, the similar cases or the stats; stats equal what was posted; reindex changes no answer."""
from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.e2e.conftest import start_platform, stop_platform, view_when, wait_until

ORDERS = [
    ("GD-S-001", "150102", "市民来电反映：清泉街社区3号楼楼上卫生间漏水两个月，天花板发霉，请求协调处理。",
     "13947100001"),
    ("GD-S-002", "150102", "来电人反映：兴业社区楼上住户装修漏水，淹了自家厨房，要求赔偿损失。", "13947100002"),
    ("GD-S-003", "150525", "奈曼旗大沁他拉镇某工地拖欠二十多名农民工工资，欠薪三万五千元，工人情绪激动。",
     "13947100003"),
    ("GD-S-004", "150525", "來電反映：西湖村村民反映樓上漏水問題長期得不到解決。", "13947100004"),
]


@pytest.fixture(scope="module")
def searchable(tmp_path_factory, vhost_uri):
    platform = start_platform(tmp_path_factory.mktemp("search"), vhost_uri)
    ids = {}
    with platform.client() as client:
        for source_id, region, text, phone in ORDERS:
            accepted = client.post("/api/v1/cases", json={
                "channel": "hotline_12345", "source_id": source_id, "text": text, "region_code": region,
                "reporter": {"name": "李女士", "phone": phone}})
            assert accepted.status_code == 202, accepted.text
            ids[source_id] = case_id = accepted.json()["id"]
            # One at a time, so that each is received after the one before (similar cases are earlier ones).
            view_when(client, case_id, lambda v: v["status"] == "assigned", f"case {case_id} assigned")
        wait_until(lambda: client.get("/api/v1/cases").json()["total"] == len(ORDERS), 30, "every case indexed")
    yield platform, ids
    stop_platform(platform)


def scoped_client(platform, region: str) -> httpx.Client:
    key = subprocess.run([sys.executable, "-m", "fengqiao.cli", "clients", "add", "新城区综治中心",
                          "--role", "dispatcher", "--region", region], env=platform.env, capture_output=True,
                         text=True, check=True)
    return httpx.Client(base_url=platform.base_url, headers={"X-API-Key": key.stdout.strip()}, timeout=15)


def found(client, **params) -> list[str]:
    answer = client.get("/api/v1/cases", params=params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_phrases_filters_and_tails_find_the_right_cases_with_snippets(searchable):
    platform, ids = searchable
    with platform.client() as client:
        page = client.get("/api/v1/cases", params={"q": "漏水"}).json()
        assert {item["id"] for item in page["items"]} == {ids["GD-S-001"], ids["GD-S-002"], ids["GD-S-004"]}
        assert page["total"] == 3 and page["total_exact"] is True
        assert all("<em>漏水</em>" in item["snippet"] for item in page["items"])
        assert found(client, q="楼上漏水", region="150525") == [ids["GD-S-004"]]  # written in traditional
        assert found(client, q="欠薪") == [ids["GD-S-003"]]
        assert found(client, q="0002") == [ids["GD-S-002"]]
        assert found(client, q="13947100002") == []  # whole numbers are not searchable
        assert set(found(client, region="150100")) == {ids["GD-S-001"], ids["GD-S-002"]}
        first_page = client.get("/api/v1/cases", params={"limit": 2}).json()
        second = client.get("/api/v1/cases", params={"limit": 2, "cursor": first_page["next_cursor"]}).json()
        assert len({i["id"] for i in first_page["items"] + second["items"]}) == 4
        bad = client.get("/api/v1/cases", params={"sort": "relevance"})
        assert bad.status_code == 422 and "sort" in bad.text


def test_a_client_limited_to_one_county_sees_nothing_outside_it(searchable):
    platform, ids = searchable
    with scoped_client(platform, "150102") as county:
        assert set(found(county, q="漏水")) == {ids["GD-S-001"], ids["GD-S-002"]}
        assert found(county) == found(county, region="150102")
        assert county.get(f"/api/v1/cases/{ids['GD-S-003']}").status_code == 404
        assert county.get(f"/api/v1/cases/{ids['GD-S-003']}/similar").status_code == 404
        similar = county.get(f"/api/v1/cases/{ids['GD-S-002']}/similar").json()["items"]
        assert [item["id"] for item in similar] == [ids["GD-S-001"]]  # not 004, in another county
        outside = county.get("/api/v1/stats", params={"region": "150525"})
        assert outside.status_code == 403 and outside.headers["content-type"] == "application/problem+json"
        assert county.get("/api/v1/cases", params={"region": "150500"}).status_code == 403
        assert county.get("/api/v1/stats").json()["open"] == 2


def test_stats_count_what_was_posted(searchable):
    platform, _ = searchable
    with platform.client() as client:
        stats = client.get("/api/v1/stats").json()
        assert stats["open"] == 4 and stats["received_total"] == 4
        assert sum(stats["open_by"]["status"].values()) == 4 and stats["open_by"]["status"]["assigned"] == 4
        assert client.get("/api/v1/stats", params={"region": "150500"}).json()["open"] == 2
        assert client.get("/api/v1/stats", params={"region": "bad"}).status_code == 422
        month = client.get("/api/v1/stats", params={"days": 30}).json()["per_day"]
        assert len(month) == 30 and sum(day["received"] for day in month) == 4


def test_reindex_rebuilds_the_index_and_search_answers_the_same(searchable):
    platform, _ = searchable
    with platform.client() as client:
        before = client.get("/api/v1/cases", params={"q": "漏水"}).json()["items"]
        rebuilt = subprocess.run([sys.executable, "-m", "fengqiao.cli", "reindex"], env=platform.env,
                                 capture_output=True, text=True, timeout=120)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "indexed 4 cases" in rebuilt.stderr
        assert client.get("/api/v1/cases", params={"q": "漏水"}).json()["items"] == before
