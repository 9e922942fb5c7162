"""The command center's wall through the running platform: the live stream of figures, in scope,
resumable, equal to GET /api/v1/stats; and the page in a real Chromium."""
from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import start_platform, stop_platform, wait_until
from tests.e2e.sse import EventStream

COUNTY, OTHER_COUNTY = "150102", "150525"
STREAM = "/api/v1/screen/stream"
THREAT = "来电人称邻居因为排水沟的事扬言今晚要拿刀砍死他全家，情绪很激动，电话13712345678。"


@pytest.fixture(scope="module")
def wall(tmp_path_factory, vhost_uri):
    platform = start_platform(tmp_path_factory.mktemp("screen"), vhost_uri, FQ_SCREEN_KEEPALIVE_SECONDS="0.3")
    screen_key = platform.key("screen", regions=[COUNTY], name="新城区指挥中心大屏")
    yield platform, screen_key
    stop_platform(platform)


def post(platform, order_no: str, text: str, region: str = "150102001001") -> str:
    with platform.client() as client:
        response = client.post("/api/v1/intake/hotline_12345", json={
            "order_no": order_no, "call_time": "2026-11-23T08:55:00+08:00", "caller_phone": "13712345678",
            "content": text, "region_code": region})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def stats(platform, key: str, **params) -> dict:
    with platform.client(key) as client:
        response = client.get("/api/v1/stats", params={"days": 30, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_grade_three_case_reaches_the_wall_within_a_second_of_the_figures(wall):
    platform, key = wall
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key}) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        snapshot = stream.next()
        assert snapshot.kind == "snapshot" and snapshot.data["figures"] == stats(platform, key)
        before = snapshot.data["figures"]["grade3_open"]
        post(platform, "SCREEN-1", THREAT)
        # The moment GET /api/v1/stats shows the case, the wall has it or gets it within 1 s.
        counted = wait_until(lambda: stats(platform, key)["grade3_open"] == before + 1 and time.monotonic(),
                             30, "the grade-3 case counted")
        update = stream.until(lambda data: data["figures"]["grade3_open"] == before + 1, 30, "update")
        assert update.kind == "update" and update.at - counted < 1.0
        listed = update.data["grade3"]
        assert len(listed) == before + 1 and listed[0]["unit_name"] == "新城区综治中心"
        assert set(listed[0]) == {"number", "category", "region_code", "level", "unit_name", "received_at",
                                  "overdue"}
        assert "13712345678" not in str(update.data) and "排水沟" not in str(update.data)
        # Routing's later facts move more figures; once quiet, the wall shows what the API says.
        settled = wait_until(lambda: (stream.latest() or {}).get("figures") == stats(platform, key)
                             and stream.latest(), 10, "the wall's figures equal GET /api/v1/stats")
        assert settled["figures"]["open"] >= 1


def test_the_stream_keeps_alive_and_resumes_from_the_last_frame(wall):
    platform, key = wall
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key}) as first:
        seen = first.next()
        assert seen.kind == "snapshot" and first.next().kind == "comment"  # nothing changed: a keep-alive
    # Resuming from the current figures sends no snapshot again; from older ones, the figures now.
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key, "Last-Event-ID": seen.id}) as resumed:
        assert resumed.next().kind == "comment"
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key, "Last-Event-ID": "stale"}) as behind:
        again = behind.next()
        assert again.kind == "snapshot" and again.id == seen.id


def test_the_wall_shows_only_the_jurisdiction(wall):
    platform, key = wall
    post(platform, "SCREEN-OUT", "来电反映小区楼道堆放杂物，影响通行。", region=OTHER_COUNTY)
    everywhere = platform.key("screen", name="市指挥中心大屏")
    wait_until(lambda: stats(platform, everywhere, region=OTHER_COUNTY)["open"] == 1, 30, "counted")
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key}, {"region": "150102001"}) as inside:
        assert inside.next().data["figures"] == stats(platform, key, region="150102001")
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key}) as county:
        figures = county.next().data["figures"]
        assert figures == stats(platform, key) and figures != stats(platform, everywhere)
    refused = EventStream(platform.base_url, STREAM, {"X-API-Key": key}, {"region": OTHER_COUNTY})
    assert refused.response.status_code == 403
    assert refused.response.headers["content-type"] == "application/problem+json"
    refused.close()
    by_unit = platform.key("screen", regions=[COUNTY], units=["center-150102"], name="单位大屏")
    limited = EventStream(platform.base_url, STREAM, {"X-API-Key": by_unit})
    assert limited.response.status_code == 403
    limited.close()
    bad = EventStream(platform.base_url, STREAM, {"X-API-Key": key}, {"region": "bad"})
    assert bad.response.status_code == 422
    bad.close()
    nobody = EventStream(platform.base_url, STREAM, {})
    assert nobody.response.status_code == 401
    nobody.close()
