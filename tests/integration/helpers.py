"""Waiting with a deadline, and reading a service's store, for integration tests."""
from __future__ import annotations

import time

from nameko.standalone.events import event_dispatcher

from fengqiao.store import open_store


def eventually(check, timeout: float = 20.0, interval: float = 0.05):
    """Return check()'s first truthy value; fail once the deadline passes. Polls, never sleeps
    longer than ``interval`` at a time, so a fast system finishes fast."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)


def publish(config, event) -> None:
    event_dispatcher(config)(event.source, event.type, event.to_message())


def publish_raw(config, source: str, event_type: str, message) -> None:
    event_dispatcher(config)(source, event_type, message)


def service_store(config, service: str):
    return open_store(config["FQ_STORE_URI"], service)
