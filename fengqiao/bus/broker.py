"""Finding, and on one machine starting, the RabbitMQ broker."""
from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlparse

from kombu import Connection

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
HOW_TO_GET_ONE = (
    "Fengqiao needs RabbitMQ (3.8 or newer) and none answers at {uri}.\n"
    "  Debian/Ubuntu:  sudo apt-get install rabbitmq-server   (then run this command again)\n"
    "  macOS:          brew install rabbitmq && brew services start rabbitmq\n"
    "  Docker:         docker run -d --name rabbitmq -p 5672:5672 rabbitmq:3-management\n"
    "  or point FQ_AMQP_URI at a running broker."
)


class BrokerUnavailable(RuntimeError):
    pass


def reachable(amqp_uri: str, timeout: float = 3.0) -> bool:
    try:
        with Connection(amqp_uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
        return True
    except Exception:  # any failure means "not usable now"; the caller decides what to say
        return False


def local_server_binary() -> str | None:
    return shutil.which("rabbitmq-server") or shutil.which("rabbitmq-server", path="/usr/sbin:/usr/local/sbin")


def ensure_broker(amqp_uri: str, wait_seconds: float = 90.0, log=print) -> None:
    """Return when the broker answers; start a local one if it is installed but stopped."""
    if reachable(amqp_uri):
        return
    safe_uri = amqp_uri.replace(urlparse(amqp_uri).password or "\0", "***")
    binary = local_server_binary()
    if urlparse(amqp_uri).hostname not in LOCAL_HOSTS or binary is None:
        raise BrokerUnavailable(HOW_TO_GET_ONE.format(uri=safe_uri))
    log(f"RabbitMQ is installed but not running; starting it ({binary} -detached)")
    subprocess.run([binary, "-detached"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if reachable(amqp_uri):
            return
        time.sleep(1)
    raise BrokerUnavailable(f"started RabbitMQ but it did not answer at {safe_uri} within {wait_seconds:.0f} s")
