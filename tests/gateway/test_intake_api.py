"""Channel endpoints, batches, Open311 and ledger uploads through the gateway, on the real broker."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from kombu import Connection

from fengqiao.bus.topology import queue_name
from fengqiao.channels import ADAPTERS
from fengqiao.channels.__main__ import schema_text
from tests.gateway.conftest import DEAD_BROKER, as_role, gateway_client

DOCS = Path(__file__).parents[2] / "docs" / "channels"
SINGLE_QUEUE = queue_name("gateway", "report_submitted", "intake", "register_report")
BATCH_QUEUE = queue_name("gateway", "report_batch_submitted", "intake", "register_report_batch")


def example(channel: str) -> dict:
    return json.loads((DOCS / f"{channel}.example.json").read_text(encoding="utf-8"))


def drain(amqp_uri: str, queue: str) -> list[dict]:
    with Connection(amqp_uri) as conn:
        channel, found = conn.default_channel, []
        while (raw := channel.basic_get(queue)) is not None:
            message = channel.message_to_python(raw)
            message.ack()
            found.append(message.decode())
        return found


@pytest.mark.parametrize("channel", sorted(ADAPTERS))
def test_the_documented_schema_and_example_match_the_code(channel):
    assert (DOCS / f"{channel}.schema.json").read_text(encoding="utf-8") == schema_text(channel), \
        "run: python -m fengqiao.channels"
    report = ADAPTERS[channel].model_validate(example(channel)).to_report()
    assert report.channel == channel and report.text and report.original


EXPECTED = {
    "hotline_12345": ("12345-20261121-004217", "李女士", "楼上602住户卫生间长期漏水"),
    "police_110": ("J1501022026112100153", "赵某", "宅基地界墙"),
    "petition": ("XF-150824-2026-00318", "巴特尔", "诉求：请求依法确认草场边界"),
    "court": ("(2026)内0802民诉前调1187号", "刘某等十二人", "案由：劳务合同纠纷。"),
    "grid": ("WG-20261121-88213", "周大爷", "烧烤店"),
    "walk_in": ("CK-20261121-017", "陈某", "全屋定制家具"),
}


@pytest.mark.parametrize("channel", sorted(ADAPTERS))
def test_every_channel_is_accepted_in_its_own_shape(client, bus_uri, channel):
    response = client.post(f"/api/v1/intake/{channel}", json=example(channel))
    assert response.status_code == 202, response.text
    [envelope] = drain(bus_uri, SINGLE_QUEUE)
    data = envelope["data"]
    source_id, reporter, fragment = EXPECTED[channel]
    assert envelope["case_id"] == response.json()["id"]
    assert (data["channel"], data["source_id"], data["reporter"]["name"]) == (channel, source_id, reporter)
    assert fragment in data["text"]
    assert data["original"] == example(channel) | data["original"]  # the payload travels untouched
    assert data["reported_at"].endswith("Z")


@pytest.mark.parametrize("channel, change, field", [
    ("hotline_12345", {"order_no": None}, "order_no"),
    ("hotline_12345", {"urgency": "立刻"}, "urgency"),
    ("police_110", {"caller_phone": "打我电话"}, "caller_phone"),
    ("petition", {"petitioner_count": 0}, "petitioner_count"),
    ("petition", {"petitioner": {"name": "巴特尔", "id_number": "12345"}}, "petitioner.id_number"),
    ("court", {"plaintiffs": []}, "plaintiffs"),
    ("court", {"referred_at": "2026-02-30T10:00:00"}, "referred_at"),
    ("grid", {"grid_code": "网格一"}, "grid_code"),
    ("grid", {"photos": ["not a url"]}, "photos.0"),
    ("walk_in", {"content": "  "}, "content"),
    ("walk_in", {"vip": True}, "vip"),
])
def test_channel_payloads_are_checked_field_by_field(offline_client, channel, change, field):
    payload = {k: v for k, v in (example(channel) | change).items() if v is not None}
    response = offline_client.post(f"/api/v1/intake/{channel}", json=payload)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_a_batch_is_answered_item_by_item_and_travels_as_one_message(client, bus_uri):
    good = example("hotline_12345")
    second = good | {"order_no": "12345-20261121-004218", "content": "来电人反映小区路灯不亮"}
    bad = good | {"order_no": "12345-20261121-004219", "call_time": "昨天"}
    body = {"items": [good, bad, second, good]}
    result = client.post("/api/v1/intake/hotline_12345/batch", json=body).json()
    assert (result["accepted"], result["replayed"], result["rejected"]) == (2, 1, 1)
    assert [i["status"] for i in result["items"]] == ["accepted", "rejected", "accepted", "replayed"]
    assert result["items"][1]["errors"][0]["field"] == "call_time"
    assert result["items"][3]["id"] == result["items"][0]["id"]
    [batch] = drain(bus_uri, BATCH_QUEUE)
    assert batch["type"] == "report_batch_submitted"
    assert [r["data"]["source_id"] for r in batch["data"]["reports"]] == [good["order_no"], second["order_no"]]
    again = client.post("/api/v1/intake/hotline_12345/batch", json=body).json()
    assert (again["accepted"], again["replayed"], again["rejected"]) == (0, 3, 1)
    assert drain(bus_uri, BATCH_QUEUE) == []


def test_a_batch_over_a_thousand_items_is_refused(offline_client):
    response = offline_client.post("/api/v1/intake/grid/batch", json={"items": [example("grid")] * 1001})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "items"


def test_a_batch_meeting_a_dead_broker_says_which_items_to_resend(offline_client):
    response = offline_client.post("/api/v1/intake/walk_in/batch", json={"items": [example("walk_in"), {}]})
    assert response.status_code == 503
    statuses = [i["status"] for i in response.json()["items"]]
    assert statuses == ["unavailable", "rejected"]


# --- Open311 ------------------------------------------------------------------------------

def test_open311_services_in_json_and_xml(offline_client):
    services = offline_client.get("/open311/v2/services.json").json()
    assert len(services) == 14 and {"service_code": "labor_wage", "service_name": "劳动争议、欠薪"}.items() <= \
        next(s for s in services if s["service_code"] == "labor_wage").items()
    xml = offline_client.get("/open311/v2/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    assert "<service_code>neighbor</service_code>" in xml.text and xml.text.startswith("<?xml")
    definition = offline_client.get("/open311/v2/services/neighbor.json").json()  # one object, as the spec has it
    assert definition["service_code"] == "neighbor" and definition["attributes"][0]["code"] == "source_id"
    missing = offline_client.get("/open311/v2/services/unicorns.xml")
    assert missing.status_code == 404 and "<code>404</code>" in missing.text
    discovery = offline_client.get("/open311/v2/discovery.json").json()
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"


OPEN311_FORM = {"api_key": "test-admin-key", "service_code": "environment", "lat": "40.8412", "long": "111.6789",
                "address_string": "呼和浩特市新城区清泉街社区东门", "description": "东门烧烤店油烟直排，晚上噪音大。",
                "first_name": "明", "last_name": "周", "phone": "13500000001"}


def test_open311_post_request_and_token(client, bus_uri):
    created = client.post("/open311/v2/requests.json", data=OPEN311_FORM, headers={"X-API-Key": ""})
    assert created.status_code == 201, created.text
    [entry] = created.json()
    assert entry["service_notice"].startswith("已受理，编号 FQ-")
    [envelope] = drain(bus_uri, SINGLE_QUEUE)
    data = envelope["data"]
    assert (data["channel"], data["address"]) == ("open311", OPEN311_FORM["address_string"])
    assert data["reporter"]["name"] == "周 明"
    assert data["facts"]["service_code"] == "environment" and "api_key" not in data["original"]
    token = client.get(f"/open311/v2/tokens/{entry['token']}.xml")
    assert f"<service_request_id>{entry['service_request_id']}</service_request_id>" in token.text


@pytest.mark.parametrize("change, status, description", [
    ({"service_code": None}, 400, "service_code was not provided"),
    ({"service_code": "ufo"}, 400, "service_code 'ufo' is not a service"),
    ({"api_key": "nope"}, 403, "api_key is unknown"),
    ({"api_key": None}, 403, "api_key is required"),
    ({"address_string": None, "lat": None}, 400, "a location is required"),
    ({"lat": "north"}, 400, "lat must be decimal degrees"),
    ({"description": " "}, 400, "description was not provided"),
])
def test_open311_errors_name_what_is_wrong(offline_client, change, status, description):
    form = {k: v for k, v in (OPEN311_FORM | change).items() if v is not None}
    # Open311 clients send api_key in the form: no X-API-Key header to fall back on.
    response = offline_client.post("/open311/v2/requests.json", data=form, headers={"X-API-Key": ""})
    assert response.status_code == status
    assert description in response.json()[0]["description"]


def test_open311_request_queries_are_checked(offline_client):
    bad = offline_client.get("/open311/v2/requests.json", params={"start_date": "上周"})
    assert bad.status_code == 400 and "start_date" in bad.json()[0]["description"]
    assert offline_client.get("/open311/v2/requests.json", params={"status": "pending"}).status_code == 400
    assert offline_client.get("/open311/v2/requests.json", params={"page_size": "5000"}).status_code == 400


# --- ledgers ------------------------------------------------------------------------------

def upload(client, name: str, content: bytes, channel: str | None = None):
    data = {"channel": channel} if channel else {}
    return client.post("/api/v1/imports", files={"file": (name, content)}, data=data)


def test_an_unreadable_ledger_is_refused_whole(offline_client):
    wrong_type = upload(offline_client, "ledger.txt", b"hello")
    assert wrong_type.status_code == 422 and ".xlsx、.csv 或 .jsonl" in wrong_type.json()["detail"]
    no_text = upload(offline_client, "ledger.csv", "编号,地址\nA1,新城区\n".encode())
    assert no_text.status_code == 422 and "没有反映内容列" in no_text.json()["detail"]
    bad_bytes = upload(offline_client, "ledger.csv", b"\xff\xfe\x80\x80\x81")
    assert bad_bytes.status_code == 422 and "编码" in bad_bytes.json()["detail"]
    unknown = upload(offline_client, "ledger.csv", "反映内容\n漏水\n".encode(), channel="fax")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "channel"


def test_a_gbk_ledger_reports_bad_rows_by_number_and_column(client):
    rows = ("编号,渠道,反映内容,联系电话,登记时间,接线员\n"
            "L1,12345,楼上漏水，天花板发霉,13800001234,2024年3月5日,小王\n"
            ",,,,,\n"
            "L2,火星热线,噪音扰民,,2024/3/5,\n"
            "L3,信访,,,2024-02-30 14:30,\n")
    job = upload(client, "ledger.csv", rows.encode("gbk")).json()
    assert (job["rows"], job["rejected"], job["empty_rows"]) == (3, 2, 1)
    assert job["ignored_columns"] == ["接线员"]
    assert {(e["row"], e["column"]) for e in job["errors"]} == {(4, "渠道"), (5, "反映内容"), (5, "登记时间")}
    assert next(e for e in job["errors"] if e["column"] == "登记时间")["reason"] == "日期不存在：2024-02-30 14:30"


def test_export_needs_the_search_service(client):
    dispatcher = as_role(client, "dispatcher")
    response = client.get("/api/v1/exports/cases.xlsx", params={"channel": "grid"}, headers=dispatcher)
    assert response.status_code == 503
    assert client.get("/api/v1/exports/cases.xlsx", params={"risk": 9}, headers=dispatcher).status_code == 422


def test_unknown_import_job_is_404(client):
    assert client.get("/api/v1/imports/nope").status_code == 404


def test_receipts_are_not_left_pending_by_batches(client):
    client.post("/api/v1/intake/grid/batch", json={"items": [example("grid")]})
    pending = asyncio.run(client.app.state.receipts.count({"state": "pending"}))
    assert pending == 0


def test_dead_broker_constant_is_loopback():
    assert "127.0.0.1" in DEAD_BROKER and gateway_client
