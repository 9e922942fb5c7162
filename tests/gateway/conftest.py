from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fengqiao.bus.topology import declare_topology
from fengqiao.registry import all_service_classes
from fengqiao.settings import Settings
from gateway.app import create_app

ADMIN_KEY = "test-admin-key"
# Port 1 on loopback: nothing listens there, so every connection is refused at once.
DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"


def gateway_client(tmp_path, amqp_uri: str, clock=None) -> TestClient:
    settings = Settings(
        data_dir=tmp_path, amqp_uri=amqp_uri, bootstrap_admin_key=ADMIN_KEY,
        rpc_timeout_seconds=3, publish_timeout_seconds=5,
    )
    return TestClient(create_app(settings, clock=clock), headers={"X-API-Key": ADMIN_KEY})


@pytest.fixture
def offline_client(tmp_path, clock):
    """A gateway whose broker is down."""
    with gateway_client(tmp_path, DEAD_BROKER, clock) as client:
        yield client


@pytest.fixture
def bus_uri(rabbit_config):
    """A fresh RabbitMQ vhost with the platform's topology declared (nameko's fixture)."""
    declare_topology(rabbit_config["AMQP_URI"], all_service_classes(), delivery_limit=5)
    return rabbit_config["AMQP_URI"]


@pytest.fixture
def client(tmp_path, clock, bus_uri):
    with gateway_client(tmp_path, bus_uri, clock) as client:
        yield client
