"""Running nameko services in this (monkey-patched) process until SIGTERM or Ctrl-C."""
from __future__ import annotations

import logging
import os
import signal

import eventlet
from nameko.runners import ServiceRunner
from prometheus_client import start_http_server

from fengqiao.bus.topology import declare_topology
from fengqiao.registry import all_service_classes, service_class
from fengqiao.settings import Settings
from fengqiao.supervisor import MULTIPROCESS_DIR_KEY

log = logging.getLogger("fengqiao.run")


def run_services(settings: Settings, names: tuple[str, ...]) -> None:
    # Declare the whole topology first: whichever service starts first, no event is dropped.
    declare_topology(settings.amqp_uri, all_service_classes(), settings.delivery_limit)
    # Under `fengqiao up` the supervisor serves every service process's metrics on the port.
    if settings.metrics_port and not os.environ.get(MULTIPROCESS_DIR_KEY):
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    runner = ServiceRunner(settings.nameko_config())
    for name in names:
        runner.add_service(service_class(name))

    def stop(signum, frame):
        log.info("stopping %s", ", ".join(names))
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.start()
    log.info("running %s", ", ".join(names))
    runner.wait()
