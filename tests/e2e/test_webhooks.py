"""Partner agencies, through the running platform: a signed webhook subscription with its retries,
log and replay; and an agency's own RabbitMQ user reading the same facts as CloudEvents."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection
from standardwebhooks import Webhook

from tests.e2e.conftest import free_port, start_platform, stop_platform, wait_until

PERSON, PHONE = "张桂兰", "13912345678"


class Receiver:
    """A partner's endpoint on this machine: the first request it ever gets fails with 500."""

    def __init__(self):
        self.received: list[tuple[dict, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    first = len(receiver.received) == 1
                self.send_response(500 if first else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/fengqiao"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.received]


@pytest.fixture(scope="module")
def partner(tmp_path_factory, vhost_uri):
    platform = start_platform(tmp_path_factory.mktemp("webhooks"), vhost_uri, FQ_WEBHOOK_ALLOW_PRIVATE="true",
                              FQ_WEBHOOK_RETRY_SECONDS="1,1,1")
    receiver = Receiver()
    agency_uri = platform.cli("agencies", "add", "新城区公安分局", "--type", "other", "--region", "150102"
                              ).stdout.strip().splitlines()[-1]
    key = platform.key("agency", regions=["150102"], name="新城区公安分局")
    with platform.client(key) as agency:
        made = agency.post("/api/v1/subscriptions", json={"url": receiver.url, "types": ["*"]})
        assert made.status_code == 201, made.text
    with platform.client() as city:
        accepted = city.post("/api/v1/cases", json={
            "channel": "hotline_12345", "source_id": "WH-1", "region_code": "150102",
            "text": f"来电人{PERSON}反映楼上住户卫生间漏水，电话{PHONE}。",
            "reporter": {"name": PERSON, "phone": PHONE}})
        assert accepted.status_code == 202
    yield platform, receiver, key, made.json(), accepted.json()["id"], agency_uri
    receiver.server.shutdown()
    stop_platform(platform)
    user = httpx.URL(agency_uri).username
    httpx.delete(f"http://127.0.0.1:15672/api/users/{user}", auth=("guest", "guest"))


def delivered_types(receiver) -> set[str]:
    return {body["type"] for body in receiver.bodies()}


def test_deliveries_are_signed_retried_logged_and_replayed_without_personal_data(partner):
    platform, receiver, key, subscription, case_id, _ = partner
    wanted = {"cn.fengqiao.case.received", "cn.fengqiao.case.triaged", "cn.fengqiao.case.assigned"}
    wait_until(lambda: wanted <= delivered_types(receiver) and len(receiver.received) >= len(wanted) + 1, 60,
               "the case's facts delivered, one of them after a retry")
    for headers, body in receiver.received:
        event = Webhook(subscription["secret"]).verify(body, headers)  # raises on a bad signature
        assert headers["webhook-id"] == event["id"] and headers["content-type"] == "application/cloudevents+json"
        assert PERSON not in body and PHONE not in body and "漏水" not in body
    with platform.client(key) as agency:
        log = agency.get(f"/api/v1/subscriptions/{subscription['id']}/deliveries").json()["items"]
        retried = next(d for d in log if len(d["attempts"]) >= 2)
        assert [a["status_code"] for a in retried["attempts"]][:2] == [500, 200]
        assert retried["status"] == "delivered"
        before = len(receiver.received)
        replayed = agency.post(f"/api/v1/subscriptions/{subscription['id']}/deliveries/{retried['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        wait_until(lambda: len(receiver.received) > before, 30, "the replay delivered")
        assert receiver.received[-1][0]["webhook-id"] == retried["event_id"]
        again = agency.get(f"/api/v1/subscriptions/{subscription['id']}/deliveries",
                           params={"status": "delivered"}).json()["items"]
        assert any(a["replay"] for d in again for a in d["attempts"])
        other = platform.client(platform.key("agency", regions=["150525"]))
        assert other.get(f"/api/v1/subscriptions/{subscription['id']}").status_code == 404  # not theirs


def test_an_agency_reads_the_same_facts_as_cloudevents_and_only_its_own_queue(partner):
    _, receiver, _, _, case_id, agency_uri = partner
    wait_until(lambda: "cn.fengqiao.case.assigned" in delivered_types(receiver), 60, "webhooks delivered")
    queue = "agency." + httpx.URL(agency_uri).username.removeprefix("agency-")
    received = []
    with Connection(agency_uri) as connection:
        channel = connection.channel()

        def take():
            message = channel.basic_get(queue, no_ack=True)
            if message is not None:
                received.append(message)
            return {json.loads(m.body)["type"] for m in received} >= {"cn.fengqiao.case.received",
                                                                       "cn.fengqiao.case.assigned"}

        wait_until(take, 30, "the agency's queue holds the case's facts")
        assert all(m.properties["content_type"] == "application/cloudevents+json" for m in received)
        events = [json.loads(m.body) for m in received]
        assert {e["id"] for e in events} <= {b["id"] for b in receiver.bodies()}  # the same facts, same ids
        assert all(PERSON not in json.dumps(e, ensure_ascii=False) for e in events)
        with pytest.raises(AccessRefused):
            connection.channel().basic_get("fengqiao.dlq")
        with pytest.raises(AccessRefused):
            connection.channel().queue_declare("agency.mine-now", durable=True)
