"""nameko dependency providers: how a service gets its store, clock, directory and emitter.

Each reads what it needs from the container config, which ``Settings.nameko_config`` fills;
tests put a ``FakeClock`` or a temporary store URI in that config instead.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import eventlet
from nameko.extensions import DependencyProvider

from fengqiao import outbox
from fengqiao.bus.publisher import ConfirmedPublisher
from fengqiao.clock import FileClock, SystemClock
from fengqiao.directory import Directory
from fengqiao.events import Event
from fengqiao.metrics import CaseGauges
from fengqiao.screen import EVERYWHERE
from fengqiao.search import SearchIndex, open_index
from fengqiao.settings import DEFAULT_DIRECTORY, flag, service_setting
from fengqiao.store import CollectionSpec, DocumentStore, open_store

STORE_URI_KEY = "FQ_STORE_URI"
CLOCK_KEY = "FQ_CLOCK"
CLOCK_FILE_KEY = "FQ_CLOCK_FILE"
DIRECTORY_KEY = "FQ_DIRECTORY_FILE"
SEARCH_URI_KEY = "FQ_SEARCH_URI"
OUTBOX_RELAY_KEY = "FQ_OUTBOX_RELAY_SECONDS"
OUTBOX_GRACE_KEY = "FQ_OUTBOX_GRACE_SECONDS"
OUTBOX_PUBLISH_KEY = "FQ_OUTBOX_PUBLISH_ON_COMMIT"
# Prometheus scrapes every 15 s or more: a refresh every 5 s is never more than one scrape behind.
GAUGE_REFRESH_SECONDS = 5.0
log = logging.getLogger("fengqiao.outbox")


class Collections:
    """The service's collections by name (``self.store.cases``) and its sequences."""

    def __init__(self, store: DocumentStore, specs: tuple[CollectionSpec, ...]):
        self.store = store
        for spec in specs:
            setattr(self, spec.name, spec.open(store))


class Store(DependencyProvider):
    """The service's own document store (one SQLite file or Mongo database per service),
    with the collections it declares opened and indexed once, at container setup."""

    def __init__(self, *specs: CollectionSpec):
        self.specs = specs

    def setup(self):
        store = open_store(self.container.config[STORE_URI_KEY], self.container.service_name)
        self.collections = Collections(store, self.specs)

    def stop(self):
        self.collections.store.close()

    def get_dependency(self, worker_ctx):
        return self.collections


def search_uri(config: dict) -> str:
    """FQ_SEARCH_URI, or an index beside an embedded store when only the store is configured."""
    if config.get(SEARCH_URI_KEY):
        return config[SEARCH_URI_KEY]
    store = config[STORE_URI_KEY]
    if not store.startswith("sqlite://"):
        raise ValueError("FQ_SEARCH_URI must be set when the store is not embedded")
    return store.rstrip("/") + "/search"


class ScreenGauges(DependencyProvider):
    """Keeps the case gauges (``fengqiao.metrics.CaseGauges``) set from the service's screen
    counters while the service runs, every ``GAUGE_REFRESH_SECONDS``."""

    def start(self):
        collections = next(d for d in self.container.dependencies if isinstance(d, Store)).collections
        self.gauges = CaseGauges(lambda: (collections.screen_counters.get(EVERYWHERE) or {}).get("counts", {}))
        self._running = True
        self.container.spawn_managed_thread(self._refresh, identifier=f"{self.container.service_name}.case_gauges")

    def stop(self):
        self._running = False

    kill = stop

    def _refresh(self):
        while self._running:
            try:
                self.gauges.refresh()
            except Exception:  # the store is away; the gauges keep their last figures until it is back
                logging.getLogger("fengqiao.metrics").warning("case gauges not refreshed", exc_info=True)
            eventlet.sleep(GAUGE_REFRESH_SECONDS)


class Index(DependencyProvider):
    """The full-text search index (SQLite FTS5 files or Elasticsearch), opened once per container."""

    def setup(self):
        self.index: SearchIndex = open_index(search_uri(self.container.config))

    def stop(self):
        self.index.close()

    def get_dependency(self, worker_ctx):
        return self.index


class Clock(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.clock = config.get(CLOCK_KEY) or (FileClock(config[CLOCK_FILE_KEY]) if config.get(CLOCK_FILE_KEY)
                                               else SystemClock())

    def get_dependency(self, worker_ctx):
        return self.clock


def load_directory(config: dict) -> Directory:
    return Directory.load(config.get(DIRECTORY_KEY) or DEFAULT_DIRECTORY)


class TriageModels(DependencyProvider):
    """The triage models, fitted in ``setup``: a container sets up every extension before any
    entrypoint starts consuming, so the first messages do not wait behind a fit (seconds of CPU
    on a busy machine) while the queue grows."""

    def setup(self):
        from fengqiao.triage import model  # scikit-learn loads only in the services that triage

        self.models = model()

    def get_dependency(self, worker_ctx):
        return self.models


class DirectoryFile(DependencyProvider):
    def setup(self):
        self.directory = load_directory(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.directory


class Emit:
    """What a service's ``emit`` is. ``commit(work)`` runs ``work`` as one unit of work: its
    writes and the events it returns are stored together (the outbox), then published;
    ``answer(work)`` does the same for an RPC command and returns the answer listing the events."""

    def __init__(self, emitter: Emitter):
        self._emitter = emitter

    def commit(self, work: Callable[[], Any], events_of: Callable[[Any], list] = lambda result: result) -> Any:
        return self._emitter.commit(work, events_of)

    def answer(self, work: Callable[[], list[Event]]) -> dict:
        return answer_of(self.commit(work))

    def change(self, work: Callable[[], Any]) -> Any:
        """A unit of work that emits nothing (its writes still commit together)."""
        return self.commit(work, events_of=lambda result: [])


class LocalEmitter:
    """Commits units of work on a store and hands their events to ``deliver``: what
    ``worker_factory`` tests give a service instead of the broker."""

    def __init__(self, store: DocumentStore, deliver: Callable[[Event], None]):
        self.store, self.deliver = store, deliver

    def commit(self, work, events_of):
        result = self.store.atomically(work)
        for event in events_of(result):
            self.deliver(event)
        return result


def answer_of(events: list[Event]) -> dict:
    """A command's RPC answer: the events it caused."""
    return {"events": [{"type": e.type, **e.data.model_dump(mode="json")} for e in events]}


class Emitter(DependencyProvider):
    """Events through the outbox of the service's own store (``Store`` beside it), published
    with confirms right after the commit; a relay in the background publishes what a crash
    left behind, ``FQ_OUTBOX_GRACE_SECONDS`` after it was written."""

    def setup(self):
        config = self.container.config
        self.publisher = ConfirmedPublisher(config["AMQP_URI"])
        self.relay_seconds = float(service_setting(config, OUTBOX_RELAY_KEY))
        self.grace_seconds = float(service_setting(config, OUTBOX_GRACE_KEY))
        self.publish_on_commit = flag(service_setting(config, OUTBOX_PUBLISH_KEY))
        self._running = False

    def start(self):
        store = next(d for d in self.container.dependencies if isinstance(d, Store))
        self.store = store.collections.store
        self.outbox = outbox.OUTBOX.open(self.store)
        self._running = True
        self.container.spawn_managed_thread(self._relay, identifier=f"{self.container.service_name}.outbox_relay")

    def stop(self):
        self._running = False
        self.publisher.close()

    def kill(self):
        self._running = False

    def commit(self, work, events_of):
        service = self.container.service_name

        def unit():
            result = work()
            items = events_of(result)
            for item in items:
                if isinstance(item, Event) and item.source != service:
                    raise ValueError(f"{service} cannot emit {item.type}, which belongs to {item.source}")
            return result, outbox.add(self.outbox, items, time.time())

        result, added = self.store.atomically(unit)
        if self.publish_on_commit:
            self._publish(added)
        return result

    def _publish(self, messages) -> None:
        try:
            self.publisher.publish(messages)
        except Exception:  # committed and kept in the outbox: the relay publishes it later
            log.warning("%s: publishing %d messages failed; the relay will retry", self.container.service_name,
                        len(messages), exc_info=True)
            return
        self.store.atomically(lambda: outbox.sent(self.outbox, [m.id for m in messages]))

    def relay_once(self) -> int:
        """Publish what has waited longer than the grace period; how many it published."""
        waiting = outbox.pending(self.outbox, time.time() - self.grace_seconds)
        self._publish(waiting)
        return len(waiting)

    def _relay(self):
        while self._running:
            eventlet.sleep(self.relay_seconds)
            if self._running:
                try:
                    self.relay_once()
                except Exception:  # the store or broker is away; try again next round
                    log.warning("%s: outbox relay failed", self.container.service_name, exc_info=True)

    def get_dependency(self, worker_ctx):
        return Emit(self)
