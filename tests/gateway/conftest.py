from __future__ import annotations

import os
import subprocess
import sys

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


OPERATOR_GRANTS = {"pii_reader", "auditor", "admin"}


def role_key(client: TestClient, *roles: str, regions=(), units=(), name="测试系统") -> str:
    """A new API client with these roles; its key. Made by the bootstrap admin over HTTP, or, for
    the roles only an operator grants, with the `fengqiao clients add` command on the same store."""
    if OPERATOR_GRANTS & set(roles):
        args = [a for r in roles for a in ("--role", r)] + [a for r in regions for a in ("--region", r)]
        args += [a for u in units for a in ("--unit", u)]
        done = subprocess.run([sys.executable, "-m", "fengqiao.cli", "clients", "add", name, *args],
                              env={**os.environ, "FQ_DATA_DIR": str(client.app.state.settings.data_dir)},
                              capture_output=True, text=True, check=True)
        return done.stdout.strip().splitlines()[-1]
    response = client.post("/api/v1/admin/clients", json={"name": name, "roles": list(roles),
                                                           "regions": list(regions), "units": list(units)},
                           headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def as_role(client: TestClient, *roles: str, **scope) -> dict:
    """Headers that call as a new client with these roles."""
    return {"X-API-Key": role_key(client, *roles, **scope)}


@pytest.fixture
def leader(offline_client):
    """Headers of a city-wide leader (every case action), for the offline gateway."""
    return as_role(offline_client, "leader")


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
