"""The HTTP contract every route keeps: 415 for a body in the wrong media type, 405 naming every
allowed method, 413 before an oversized body is read, and an OpenAPI document that says what
the gateway answers."""
from __future__ import annotations

import json

import pytest

from gateway.problems import PROBLEM_JSON
from tests.gateway.conftest import ADMIN_KEY
from tests.gateway.test_intake_api import example


def test_a_body_in_the_wrong_media_type_is_415(offline_client):
    body = json.dumps(example("grid"))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", None):
        headers = {"Content-Type": content_type} if content_type else {}  # raw content sends none by itself
        response = offline_client.post("/api/v1/intake/grid", content=body, headers=headers)
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["accepted"] == ["application/json"]
    as_json = offline_client.post("/api/v1/imports", json={"file": "ledger.csv"})
    assert as_json.status_code == 415 and as_json.json()["accepted"] == ["multipart/form-data"]
    # JSON with a charset and a +json type are read as JSON.
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = offline_client.post("/api/v1/intake/grid", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 503, response.text  # taken as input; the broker is down


def test_405_lists_every_allowed_method(offline_client):
    response = offline_client.delete("/api/v1/cases")
    assert response.status_code == 405 and response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["Allow"] == "GET, POST"  # two routes at one path; each has one method
    one = offline_client.put("/api/v1/subscriptions/s1")
    assert set(one.headers["Allow"].split(", ")) == {"DELETE", "GET", "PATCH"}


LIMIT = 16 << 20  # FQ_MAX_BODY_MB's default


def test_a_declared_length_over_the_limit_is_refused_unread(offline_client):
    response = offline_client.post("/api/v1/intake/grid/batch", content=b"{",
                                   headers={"Content-Type": "application/json", "Content-Length": str(120 << 20)})
    assert response.status_code == 413 and response.json()["limit_bytes"] == LIMIT
    assert response.headers["content-type"] == PROBLEM_JSON


async def post_chunked(app, path: str, megabytes: int) -> tuple[int, list[dict]]:
    """POST a chunked body of ``megabytes`` straight into the ASGI app; how many chunks it read."""
    read = 0

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b" " * (1 << 20), "more_body": read < megabytes}

    answer = []

    async def send(message):
        answer.append(message)

    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked"),
               (b"x-api-key", ADMIN_KEY.encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "server": ("testserver", 80), "client": ("127.0.0.1", 5000), "state": {}}
    await app(scope, receive, send)
    return read, answer


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(offline_client):
    read, answer = offline_client.portal.call(post_chunked, offline_client.app, "/api/v1/intake/grid/batch", 120)
    assert answer[0]["status"] == 413
    assert read == 17, "the body was read past the limit"  # 16 MB, and the chunk that passed it


@pytest.fixture
def document(offline_client) -> dict:
    return offline_client.get("/openapi.json").json()


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_document_declares_both_ways_to_authenticate(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                 "description": schemes["ApiKey"]["description"]}
    assert (schemes["StaffToken"]["type"], schemes["StaffToken"]["scheme"]) == ("http", "bearer")
    security = {(p, m): o["security"] for p, m, o in operations(document)}
    assert security[("/api/v1/cases", "get")] == [{"ApiKey": []}, {"StaffToken": []}]
    assert security[("/healthz", "get")] == [] and security[("/open311/v2/services.{fmt}", "get")] == []
    assert {"Open311ApiKey": []} in security[("/open311/v2/requests.{fmt}", "post")]


def test_every_error_is_problem_json_or_open311s_own(document):
    assert "HTTPValidationError" not in json.dumps(document)
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            media = set(response["content"])
            wanted = {"application/json", "text/xml"} if path.startswith("/open311/") else {PROBLEM_JSON}
            assert wanted <= media or media == {PROBLEM_JSON}, (path, method, code, media)
        if not path.startswith("/open311/"):
            assert "422" in operation["responses"] or not operation.get("parameters") and \
                "requestBody" not in operation, (path, method)


def test_the_document_lists_the_errors_a_route_gives(document):
    paths = document["paths"]
    resolve = paths["/api/v1/cases/{case_id}/resolve"]["post"]["responses"]
    assert {"401", "403", "404", "413", "415", "422", "503"} <= set(resolve)
    assert {"401", "403", "503"} <= set(paths["/api/v1/cases"]["get"]["responses"])
    assert "503" not in paths["/healthz"]["get"]["responses"]


def test_open311_bodies_and_formats_are_documented(document):
    post = document["paths"]["/open311/v2/requests.{fmt}"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/x-www-form-urlencoded", "multipart/form-data"}
    assert "address_id" in post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert set(post["responses"]["201"]["content"]) == {"application/json", "text/xml"}
    listing = document["paths"]["/open311/v2/requests.{fmt}"]["get"]
    assert {"start_date", "page_size", "service_request_id"} <= {p["name"] for p in listing["parameters"]}


def test_metrics_are_documented_as_text(document, offline_client):
    assert set(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert offline_client.get("/metrics").headers["content-type"].startswith("text/plain")

