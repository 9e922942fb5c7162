"""Each input that once made the gateway answer 5xx, answered now as what it is: a 4xx naming
the field, or, for control characters, removed before anything is stored."""
from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
import zipfile

import openpyxl
import pytest

from fengqiao.channels.base import MAX_TEXT
from tests.gateway.conftest import as_role
from tests.gateway.test_intake_api import OPEN311_FORM, SINGLE_QUEUE, drain, example, upload


def fields(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_a_mediation_party_id_number_of_the_wrong_length_is_refused(offline_client, leader):
    party = {"name": "张桂兰", "role": "applicant"}
    for number in ("1" * 16, "1" * 300, "¹" * 15):
        body = {"case_id": "c1", "mediator_ids": ["m1"],
                "parties": [party | {"id_number": number}, {"name": "某物业公司", "role": "respondent"}]}
        response = offline_client.post("/api/v1/mediations", json=body, headers=leader)
        assert response.status_code == 422, response.text
        assert fields(response) == ["parties.0.id_number"]


@pytest.mark.parametrize("channel, change, named", [
    ("court", {"cause": "劳" * 100, "facts": "欠" * MAX_TEXT}, ["cause", "facts"]),
    ("petition", {"content": "占" * MAX_TEXT, "demand": "请" * 5000}, ["content", "demand"]),
])
def test_a_composed_case_text_over_the_limit_names_its_fields(offline_client, channel, change, named):
    response = offline_client.post(f"/api/v1/intake/{channel}", json=example(channel) | change)
    assert response.status_code == 422, response.text
    assert all(name in response.json()["detail"] for name in named)


def test_control_characters_are_removed_at_intake(client, bus_uri):
    body = {"channel": "hotline_12345", "source_id": "CTRL-1", "region_code": "150102",
            "text": "楼上\x00漏水\x0b两个月\x1b[0m，\t协商未果\ud800。\n", "address": "清泉街\x07社区",
            "reporter": {"name": "李\x08女士"}}
    # json.dumps writes the lone surrogate as an escape, as a broken encoder would send it.
    sent = client.post("/api/v1/cases", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert sent.status_code == 202, sent.text
    form = OPEN311_FORM | {"description": "油烟\x0c直排\x1f", "address_string": "东门\x00"}
    assert client.post("/open311/v2/requests.json", data=form, headers={"X-API-Key": ""}).status_code == 201
    first, second = (envelope["data"] for envelope in drain(bus_uri, SINGLE_QUEUE))
    assert (first["text"], first["address"], first["reporter"]["name"]) == \
        ("楼上漏水两个月[0m，\t协商未果。", "清泉街社区", "李女士")
    assert (second["text"], second["address"]) == ("油烟直排", "东门")
    assert "\x00" not in json.dumps(first["original"]) + json.dumps(second["original"])


@pytest.mark.parametrize("path, params, field", [
    ("/api/v1/cases", {"received_from": "0001-01-01T00:00:00"}, "received_from"),
    ("/api/v1/cases", {"received_to": "9999-12-31T23:59:59"}, "received_to"),
    ("/api/v1/exports/cases.xlsx", {"received_from": "0001-01-01T00:00:00"}, "received_from"),
])
def test_dates_near_year_1_or_9999_are_refused_in_queries(offline_client, leader, path, params, field):
    response = offline_client.get(path, params=params, headers=leader)
    assert response.status_code == 422 and fields(response) == [field], response.text


def test_dates_near_year_1_or_9999_are_refused_in_bodies(offline_client):
    for moment in ("0001-01-01T00:00:00", "9999-12-31T23:59:59+08:00"):
        body = {"channel": "walk_in", "text": "邻居噪音扰民", "occurred_at": moment}
        response = offline_client.post("/api/v1/cases", json=body)
        assert response.status_code == 422 and fields(response) == ["occurred_at"], response.text
    court = offline_client.post("/api/v1/intake/court", json=example("court") | {"mediation_deadline": "9999-12-31"})
    assert court.status_code == 422 and fields(court) == ["mediation_deadline"]


@pytest.mark.parametrize("param, value", [("start_date", "9999-12-31T00:00:00Z"),
                                          ("end_date", "0001-01-01T00:00:00Z")])
def test_open311_windows_near_year_1_or_9999_are_refused(offline_client, param, value):
    response = offline_client.get("/open311/v2/requests.json", params={param: value})
    assert response.status_code == 400 and param in response.json()[0]["description"]


@pytest.mark.parametrize("path, body, field", [
    ("/api/v1/followups/c1/visits", {"method": "phone", "resolved": True, "satisfaction": {"a": 1}}, "satisfaction"),
    ("/api/v1/followups/c1/visits", {"method": "phone", "resolved": True, "satisfaction": ["满意"]}, "satisfaction"),
    ("/api/v1/followups/c1/monitoring", {"reason": ["易暴雷"], "interval_days": 7}, "reason"),
    ("/api/v1/followups/c1/monitoring", {"reason": {"x": "y"}, "interval_days": 7}, "reason"),
])
def test_wrong_json_types_on_enum_fields_are_refused(offline_client, leader, path, body, field):
    response = offline_client.post(path, json=body, headers=leader)
    assert response.status_code == 422 and fields(response) == [field], response.text


def test_open311_takes_multipart_fields_but_no_files(offline_client):
    parts = {key: (None, value) for key, value in OPEN311_FORM.items()}
    # Parsed and accepted; the broker being down is what stops it (503, with Retry-After).
    fields_only = offline_client.post("/open311/v2/requests.json", files=parts, headers={"X-API-Key": ""})
    assert fields_only.status_code == 503 and fields_only.headers["Retry-After"]
    assert "temporarily unavailable" in fields_only.json()[0]["description"]
    with_file = offline_client.post("/open311/v2/requests.xml", headers={"X-API-Key": ""},
                                    files=parts | {"media": ("photo.jpg", b"\xff\xd8\xff", "image/jpeg")})
    assert with_file.status_code == 400 and "media: files are not taken" in with_file.text
    as_json = offline_client.post("/open311/v2/requests.json", json=OPEN311_FORM)
    assert as_json.status_code == 415 and "x-www-form-urlencoded" in as_json.json()[0]["description"]


@pytest.mark.parametrize("lat, long_", [("nan", "111.6"), ("40.8", "inf"), ("91", "111.6"), ("40.8", "-181")])
def test_open311_coordinates_are_range_checked(offline_client, lat, long_):
    form = OPEN311_FORM | {"lat": lat, "long": long_}
    response = offline_client.post("/open311/v2/requests.json", data=form, headers={"X-API-Key": ""})
    assert response.status_code == 400 and "decimal degrees" in response.json()[0]["description"]


@pytest.mark.parametrize("value", ["²", "1²", "٣", "1" * 5000, "-1", "0"])
def test_open311_page_size_takes_ascii_digits_only(offline_client, value):
    response = offline_client.get("/open311/v2/requests.json", params={"page_size": value})
    assert response.status_code == 400 and "page_size" in response.json()[0]["description"]


def test_open311_request_id_lists_are_capped(offline_client):
    ids = ",".join(f"id{i}" for i in range(101))
    response = offline_client.get("/open311/v2/requests.xml", params={"service_request_id": ids})
    assert response.status_code == 400 and "at most 100" in response.text


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize("value", [[[1, 2], "id"], [2**70, "id"], [{"a": 1}, "id"], [1, ["id"]], [1, 2, 3], "x"])
def test_huge_or_nested_cursors_are_refused(offline_client, value):
    auditor = as_role(offline_client, "auditor")
    response = offline_client.get("/api/v1/audit", params={"cursor": cursor(value)}, headers=auditor)
    assert response.status_code == 422 and fields(response) == ["cursor"], response.text


def workbook_with_dtd() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["反映内容"])
    book.active.append(["楼上漏水"])
    plain = io.BytesIO()
    book.save(plain)
    tainted = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source, zipfile.ZipFile(tainted, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>' + data
            target.writestr(info, data)
    return tainted.getvalue()


def test_an_xlsx_with_a_dtd_is_refused(offline_client):
    response = upload(offline_client, "ledger.xlsx", workbook_with_dtd())
    assert response.status_code == 422, response.text
    assert "DTD" in response.json()["detail"] and fields(response) == ["file"]



def test_open311_single_objects_have_the_spec_s_roots(offline_client):
    discovery = ET.fromstring(offline_client.get("/open311/v2/discovery.xml").content)
    assert discovery.tag == "discovery" and discovery.find("endpoints/endpoint/formats/format") is not None
    definition = ET.fromstring(offline_client.get("/open311/v2/services/neighbor.xml").content)
    assert definition.tag == "service_definition"
    assert definition.findtext("service_code") == "neighbor"
    assert definition.findtext("attributes/attribute/code") == "source_id"


def test_open311_takes_an_address_id_as_the_location(offline_client):
    form = {k: v for k, v in OPEN311_FORM.items() if k not in ("lat", "long", "address_string")}
    without = offline_client.post("/open311/v2/requests.json", data=form, headers={"X-API-Key": ""})
    assert without.status_code == 400 and "address_id" in without.json()[0]["description"]
    located = offline_client.post("/open311/v2/requests.json", data=form | {"address_id": "150102-001-0017"},
                                  headers={"X-API-Key": ""})
    assert located.status_code == 503  # taken; only the broker being down stops it
