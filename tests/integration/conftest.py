"""Integration tests run nameko containers against the real RabbitMQ, so this session applies
eventlet's monkey patch first (``./dev test`` runs it apart from the asyncio tests)."""
import eventlet

eventlet.monkey_patch()

import pytest  # noqa: E402

from fengqiao.bus.topology import declare_topology  # noqa: E402
from fengqiao.clock import FakeClock  # noqa: E402
from fengqiao.registry import all_service_classes  # noqa: E402
from fengqiao.settings import CLOUDEVENTS_SERIALIZER, DEFAULT_DIRECTORY  # noqa: E402

DELIVERY_LIMIT = 3


@pytest.fixture
def config(rabbit_config, tmp_path):
    """nameko config for one test: its own vhost (topology declared), store and fake clock."""
    declare_topology(rabbit_config["AMQP_URI"], all_service_classes(), DELIVERY_LIMIT)
    return {
        **rabbit_config,
        "serializer": "json",
        "FQ_STORE_URI": f"sqlite:///{tmp_path / 'store'}",
        "FQ_DIRECTORY_FILE": str(DEFAULT_DIRECTORY),
        "FQ_DELIVERY_LIMIT": DELIVERY_LIMIT,
        "FQ_CLOCK": FakeClock(),
        **CLOUDEVENTS_SERIALIZER,
    }
