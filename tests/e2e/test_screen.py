"""The command center's wall through the running platform: the live stream of figures, in scope,
resumable, equal to GET /api/v1/stats; and the page in a real Chromium."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_platform, stop_platform, wait_until
from tests.e2e.sse import EventStream

COUNTY, OTHER_COUNTY = "150102", "150525"
STREAM = "/api/v1/screen/stream"
THREAT = "来电人称邻居因为排水沟的事扬言今晚要拿刀砍死他全家，情绪很激动，电话13712345678。"


@pytest.fixture(scope="module")
def wall(tmp_path_factory, vhost_uri):
    platform = start_platform(tmp_path_factory.mktemp("screen"), vhost_uri, FQ_SCREEN_KEEPALIVE_SECONDS="0.3",
                              FQ_SCREEN_REFRESH_SECONDS="0.5")
    screen_key = platform.key("screen", regions=[COUNTY], name="新城区指挥中心大屏")
    yield platform, screen_key
    stop_platform(platform)


def post(platform, order_no: str, text: str, region: str = "150102001001") -> dict:
    with platform.client() as client:
        response = client.post("/api/v1/intake/hotline_12345", json={
            "order_no": order_no, "call_time": "2026-11-23T08:55:00+08:00", "caller_phone": "13712345678",
            "content": text, "region_code": region})
    assert response.status_code == 202, response.text
    return response.json()


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
        assert len(update.data["grade3"]) == before + 1
        # The case is graded (and counted) before routing assigns it: its unit follows in a later frame.
        if update.data["grade3"][0]["unit_name"] is None:
            update = stream.until(lambda data: data["grade3"][0]["unit_name"] is not None, 30, "the case's unit")
        listed = update.data["grade3"]
        assert len(listed) == before + 1 and listed[0]["unit_name"] == "新城区综治中心"
        assert set(listed[0]) == {"number", "category", "region_code", "region_name", "level", "unit_name",
                                  "received_at", "overdue"}
        assert listed[0]["region_name"].startswith("新城区海拉尔东路街道")
        assert "13712345678" not in str(update.data) and "排水沟" not in str(update.data)
        # Routing's later facts move more figures; once quiet, the wall shows what the API says.
        settled = wait_until(lambda: (stream.latest() or {}).get("figures") == stats(platform, key)
                             and stream.latest(), 10, "the wall's figures equal GET /api/v1/stats")
        assert settled["figures"]["open"] >= 1


def test_the_stream_keeps_alive_and_resumes_from_the_last_frame(wall):
    platform, key = wall
    with EventStream(platform.base_url, STREAM, {"X-API-Key": key}) as first:
        seen = first.next()
        assert seen.kind == "snapshot"
        for _ in range(20):  # the wall's refresh may still bring the last test's figures; then quiet
            latest = first.next()
            if latest.kind == "comment":  # nothing changed: a keep-alive
                break
            seen = latest
        assert latest.kind == "comment", "the stream never went quiet"
        # Resuming from the current figures sends no snapshot again; from older ones, the figures now.
        # (While the first stream is open, so both read the one wall's frame: a wall drawn afresh
        # could differ by a fact that arrived since, which is no fault of the resume.)
        with EventStream(platform.base_url, STREAM, {"X-API-Key": key, "Last-Event-ID": seen.id}) as resumed:
            assert resumed.next().kind == "comment"
        with EventStream(platform.base_url, STREAM, {"X-API-Key": key, "Last-Event-ID": "stale"}) as behind:
            again = behind.next()
            assert again.kind == "snapshot" and again.id == seen.id
    # A wall that goes away is forgotten: no stream stays open behind it.
    wait_until(lambda: "fengqiao_screen_streams 0.0" in httpx.get(f"{platform.base_url}/metrics").text, 10,
               "every stream closed")


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


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NUMBERS = ("received_today", "resolved_today", "open", "grade3_open", "overdue")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (./dev test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def shown(page) -> dict:
    """The numbers the page shows, as integers."""
    return {name: int(page.locator(f"#{name}").inner_text()) for name in NUMBERS}


def test_the_page_in_chromium_shows_a_new_grade_three_case_within_a_second(wall, browser, tmp_path):
    platform, key = wall
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    answer = page.goto(f"{platform.base_url}/screen")
    assert "connect-src 'self'" in answer.headers["content-security-policy"]  # and the page works under it
    page.fill("#key", key)
    page.click("#login-form button[type=submit]")
    # Polled through evaluate: wait_for_function evals its predicate in the page, which the
    # page's CSP (no 'unsafe-eval') refuses on any poll after the first in newer Chromium.
    wait_until(lambda: page.evaluate("window.fqFrame !== undefined"), 15, "the first frame on the page")
    page.wait_for_selector("#trend canvas", timeout=15000)
    assert page.evaluate("sessionStorage.getItem('fq.screen.auth')").find(key) > 0 and key not in page.url
    figures = stats(platform, key)
    assert page.evaluate("window.fqFrame.figures") == figures
    assert shown(page) == {name: figures[name] for name in NUMBERS}
    posted = post(platform, "SCREEN-BROWSER", "网格员上报：两户村民因宅基地纠纷持械对峙，一方扬言要报复杀人。")
    counted = wait_until(lambda: stats(platform, key)["grade3_open"] == figures["grade3_open"] + 1
                         and time.monotonic(), 30, "the grade-3 case counted")
    row = page.locator(f"#grade3 tr[data-number='{posted['number']}']")
    row.wait_for(timeout=max(1, 1000 * (counted + 1.0 - time.monotonic())))
    assert page.locator("#grade3_open").inner_text() == str(figures["grade3_open"] + 1)
    assert time.monotonic() - counted < 1.5  # shown within 1 s of the count (plus the browser's own wait)
    assert "新城区综治中心" in row.inner_text()
    wait_until(lambda: page.evaluate("window.fqFrame.figures") == stats(platform, key), 10, "page equals stats")
    # A grade-3 case owes its first response within hours: due within 24 h until it is answered.
    wait_until(lambda: page.evaluate("window.fqFrame.due_soon") >= 1, 10, "the case due within 24 hours")
    assert page.locator("#due_soon").inner_text() == str(page.evaluate("window.fqFrame.due_soon"))
    with platform.client() as client:
        answered = client.post(f"/api/v1/cases/{posted['id']}/progress", json={"note": "已联系双方到场处置"})
    assert answered.status_code == 200, answered.text
    wait_until(lambda: page.locator("#response_rate").inner_text() == "100.0%", 10, "响应率 on the wall")
    assert stats(platform, key)["response"] == {"due": 1, "on_time": 1, "rate": 1.0}
    # Three households without water in one day: the wall's hot matters name it (no week before
    # here, so the most told words of the last 24 hours, titled 高频).
    for n, (building, flat) in enumerate([("3", "402"), ("7", "1101"), ("12", "602")]):
        post(platform, f"SCREEN-WATER-{n}", f"来电反映幸福小区{building}号楼{flat}室从昨晚开始停水，至今未恢复。")
    hot = wait_until(lambda: [m for m in page.evaluate("window.fqFrame.hot.matters") if m["word"] == "停水"],
                     30, "停水 among the hot matters")
    assert hot[0]["cases"] == 3 and page.locator("#hot-title").inner_text() == "高频事项（近24小时）"
    shot = tmp_path / "screen.png"
    page.screenshot(path=str(shot))
    print(f"\nscreenshot of the wall: {shot}")
    assert shot.stat().st_size > 10_000
    outside = [url for url in requested if not url.startswith(platform.base_url)]
    assert not outside, f"the page asked outside addresses: {outside}"
    page.close()


def test_fengqiao_up_demo_brings_the_wall_to_life(tmp_path_factory, vhost_uri):
    platform = start_platform(tmp_path_factory.mktemp("demo"), vhost_uri, "--demo", "--demo-rate", "20")
    try:
        with EventStream(platform.base_url, STREAM, {"X-API-Key": platform.leader_key}) as stream:
            stream.next()
            lively = stream.until(lambda data: len(data["figures"]["open_by"]["channel"]) >= 5
                                  and data["figures"]["received_total"] >= 15, 60, "the demo's traffic on the wall")
        assert lively.kind == "update"
        # Ordinary and graver matters both arrive (grade 3 is one action in ten or so).
        wait_until(lambda: len(stats(platform, platform.leader_key)["open_by"]["risk"]) >= 2, 60, "several grades")
    finally:
        stop_platform(platform)
