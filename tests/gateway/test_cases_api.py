"""The case API through FastAPI's TestClient, against the real RabbitMQ where it publishes."""
from __future__ import annotations

import json

import pytest
from kombu import Connection

from fengqiao.bus.topology import queue_name
from tests.gateway.conftest import ADMIN_KEY, gateway_client

INTAKE_QUEUE = queue_name("gateway", "report_submitted", "intake", "register_report")
VALID = {
    "channel": "hotline_12345",
    "source_id": "GD20260105000123",
    "text": "来电人反映：楼上住户卫生间长期漏水，已影响自家天花板，多次协商无果。",
    "address": "呼和浩特市新城区海拉尔东路街道清泉街社区3号楼2单元",
    "region_code": "150102",
    "occurred_at": "2026-01-04T20:30:00+08:00",
    "reporter": {"name": "王某", "phone": "13800001234"},
}


def queued(amqp_uri: str, queue: str) -> int:
    with Connection(amqp_uri) as conn:
        return conn.default_channel.queue_declare(queue, passive=True).message_count


def take(amqp_uri: str, queue: str) -> dict:
    """Remove and return the first message's payload (the queue is a declared quorum queue)."""
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        message = channel.message_to_python(channel.basic_get(queue))
        message.ack()
        return message.decode()


def receipts_count(client) -> int:
    import asyncio

    return asyncio.run(_count(client))


async def _count(client):
    return await client.app.state.receipts.count()


@pytest.mark.parametrize("body, field, fragment", [
    ({**VALID, "channel": "wechat"}, "channel", "Input should be 'hotline_12345'"),
    ({k: v for k, v in VALID.items() if k != "text"}, "text", "Field required"),
    ({**VALID, "text": "   "}, "text", "text must not be blank"),
    ({**VALID, "text": "漏" * 20_001}, "text", "at most 20000 characters"),
    ({**VALID, "text": 12345}, "text", "valid string"),
    ({**VALID, "reporter": {"name": "王某", "phone": 13800001234}}, "reporter.phone", "valid string"),
    ({**VALID, "region_code": "15010"}, "region_code", "should match pattern"),
    ({**VALID, "occurred_at": "昨天晚上"}, "occurred_at", "valid datetime"),
    ({**VALID, "priority": "high"}, "priority", "Extra inputs are not permitted"),
    ({k: v for k, v in VALID.items() if k != "source_id"}, "body", "source_id is required for channel hotline_12345"),
])
def test_bad_submissions_get_422_naming_the_field_and_store_nothing(offline_client, body, field, fragment):
    response = offline_client.post("/api/v1/cases", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation-error" and problem["status"] == 422
    assert any(e["field"] == field and fragment in e["message"] for e in problem["errors"]), problem
    assert field in problem["detail"]
    assert receipts_count(offline_client) == 0


def test_invalid_json_is_a_422_on_the_body(offline_client):
    response = offline_client.post("/api/v1/cases", content=b'{"channel": "hotline_12345",',
                                   headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_the_longest_allowed_text_passes_validation(offline_client):
    # 20,000 characters is allowed: the request gets past validation and meets the dead broker.
    response = offline_client.post("/api/v1/cases", json={**VALID, "text": "漏" * 20_000})
    assert response.status_code == 503


@pytest.mark.parametrize("headers, detail", [
    ({}, "send an API key"),
    ({"X-API-Key": "wrong"}, "unknown or revoked"),
])
def test_callers_without_a_valid_key_are_refused(offline_client, headers, detail):
    offline_client.headers.pop("X-API-Key")
    response = offline_client.post("/api/v1/cases", json=VALID, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert offline_client.get("/api/v1/cases/x", headers=headers).status_code == 401


def test_broker_down_answers_503_with_a_retry_hint_and_nothing_is_accepted(offline_client):
    response = offline_client.post("/api/v1/cases", json=VALID)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    problem = response.json()
    assert problem["type"] == "/problems/service-unavailable" and "report_submitted" in problem["detail"]
    import asyncio

    pending = asyncio.run(offline_client.app.state.receipts.find({}))
    assert [r["state"] for r in pending.items] == ["pending"]  # never "accepted"


def test_accepted_only_once_rabbitmq_holds_it(client, bus_uri):
    response = client.post("/api/v1/cases", json=VALID)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "received" and body["number"].startswith("FQ-20260105-")
    assert response.headers["Location"] == f"/api/v1/cases/{body['id']}"
    assert queued(bus_uri, INTAKE_QUEUE) == 1
    envelope = take(bus_uri, INTAKE_QUEUE)
    assert envelope["type"] == "report_submitted" and envelope["case_id"] == body["id"]
    assert envelope["data"]["occurred_at"] == "2026-01-04T12:30:00.000Z"
    assert envelope["data"]["submitted_by"] == "client:bootstrap-admin"


def test_the_same_source_id_twice_returns_the_first_case(client, bus_uri):
    first = client.post("/api/v1/cases", json=VALID)
    again = client.post("/api/v1/cases", json={**VALID, "text": "同一工单再次推送"})
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert queued(bus_uri, INTAKE_QUEUE) == 1
    other = client.post("/api/v1/cases", json={**VALID, "source_id": "GD20260105000124"})
    assert other.json()["id"] != first.json()["id"]


def test_walk_ins_need_no_source_id(client):
    body = {"channel": "walk_in", "text": "来访人反映邻居装修噪音扰民。"}
    first, second = client.post("/api/v1/cases", json=body), client.post("/api/v1/cases", json=body)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]  # two visits are two submissions


def test_a_retry_after_the_broker_returns_keeps_the_same_case(tmp_path, clock, bus_uri):
    from fengqiao.settings import Settings
    from gateway.bridge import EventPublisher

    with gateway_client(tmp_path, "amqp://guest:guest@127.0.0.1:1//", clock) as client:
        assert client.post("/api/v1/cases", json=VALID).status_code == 503
        client.app.state.publisher = EventPublisher(Settings(amqp_uri=bus_uri).nameko_config(), 5)
        retried = client.post("/api/v1/cases", json=VALID)
        assert retried.status_code == 202
    assert take(bus_uri, INTAKE_QUEUE)["case_id"] == retried.json()["id"]
    assert queued(bus_uri, INTAKE_QUEUE) == 0


@pytest.mark.parametrize("exchange_exists", [False, True])
def test_without_the_bus_topology_nothing_is_accepted(tmp_path, clock, rabbit_config, exchange_exists):
    # A vhost where `fengqiao bus setup` never ran: no queue would keep the message.
    if exchange_exists:
        from fengqiao.bus.topology import event_exchange

        with Connection(rabbit_config["AMQP_URI"]) as conn:
            event_exchange("gateway")(conn.default_channel).declare()
    with gateway_client(tmp_path, rabbit_config["AMQP_URI"], clock) as client:
        response = client.post("/api/v1/cases", json=VALID)
    assert response.status_code == 503
    assert "fengqiao bus setup" in response.json()["detail"]


def test_reading_a_case_while_search_is_down_is_a_503_not_a_false_404(client):
    response = client.get("/api/v1/cases/0123456789abcdef")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


def test_health_readiness_metrics_and_docs(client, offline_client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"broker": "ok", "store": "ok"}}
    unready = offline_client.get("/readyz")
    assert unready.status_code == 503 and unready.json()["checks"]["broker"] == "unreachable"
    client.post("/api/v1/cases", json=VALID)
    metrics = client.get("/metrics").text
    assert 'fengqiao_cases_submitted_total{channel="hotline_12345",outcome="accepted"} 1.0' in metrics
    assert 'fengqiao_http_requests_total{method="POST",route="/api/v1/cases",status="202"} 1.0' in metrics
    assert client.get("/docs").status_code == 200
    assert "/api/v1/cases" in client.get("/openapi.json").json()["paths"]


def test_unknown_routes_are_problems_too(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(response.text)["type"] == "/problems/not-found"


def test_the_bootstrap_admin_is_made_once_and_never_revived(tmp_path, clock):
    from fastapi.testclient import TestClient

    from fengqiao.settings import Settings
    from gateway.app import create_app

    def restarted(key):
        settings = Settings(data_dir=tmp_path, amqp_uri="amqp://guest:guest@127.0.0.1:1//", bootstrap_admin_key=key)
        return TestClient(create_app(settings, clock=clock))

    with gateway_client(tmp_path, "amqp://guest:guest@127.0.0.1:1//", clock):
        pass
    with restarted("another-key") as client:  # a changed setting does not re-key it (rotate it instead)
        assert client.get("/api/v1/admin/policy", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
        assert client.get("/api/v1/admin/policy", headers={"X-API-Key": "another-key"}).status_code == 401
        assert client.post("/api/v1/admin/clients/bootstrap-admin/disable",
                           headers={"X-API-Key": ADMIN_KEY}).status_code == 200
    with restarted(ADMIN_KEY) as client:  # disabled stays disabled
        assert client.get("/api/v1/admin/policy", headers={"X-API-Key": ADMIN_KEY}).status_code == 401


def test_a_weak_bootstrap_key_is_refused_on_a_gateway_that_listens_to_a_network(tmp_path, clock):
    from fastapi.testclient import TestClient

    from fengqiao.settings import Settings
    from gateway.accounts import AccountError
    from gateway.app import create_app

    settings = Settings(data_dir=tmp_path, amqp_uri="amqp://guest:guest@127.0.0.1:1//", bootstrap_admin_key="change-me",
                        gateway_host="0.0.0.0")
    with pytest.raises(AccountError, match="FQ_BOOTSTRAP_ADMIN_KEY on a gateway listening on 0.0.0.0"):
        with TestClient(create_app(settings, clock=clock)):
            pass


def test_bad_stats_and_similar_requests_get_422(offline_client):
    assert offline_client.get("/api/v1/stats", params={"region": "city"}).status_code == 422
    too_long = offline_client.get("/api/v1/stats", params={"days": 400})
    assert too_long.status_code == 422 and "days" in too_long.json()["detail"]
    response = offline_client.get("/api/v1/cases/abc/similar", params={"limit": 0})
    assert response.status_code == 422 and "limit" in response.json()["detail"]
