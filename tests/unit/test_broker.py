import pytest

from fengqiao.bus import broker

CLOSED = "amqp://guest:secret@127.0.0.1:1//"


def test_an_unreachable_broker_is_reported():
    assert broker.reachable(CLOSED, timeout=1) is False


def test_without_a_local_rabbitmq_we_say_how_to_get_one(monkeypatch):
    monkeypatch.setattr(broker, "local_server_binary", lambda: None)
    with pytest.raises(broker.BrokerUnavailable) as raised:
        broker.ensure_broker(CLOSED, wait_seconds=1)
    message = str(raised.value)
    assert "apt-get install rabbitmq-server" in message and "FQ_AMQP_URI" in message
    assert "secret" not in message  # the password is masked
