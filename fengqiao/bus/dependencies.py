"""nameko dependency providers: how a service gets its store, clock, directory and emitter.

Each reads what it needs from the container config, which ``Settings.nameko_config`` fills;
tests put a ``FakeClock`` or a temporary store URI in that config instead.
"""
from __future__ import annotations

from collections.abc import Callable

from nameko.events import EventDispatcher
from nameko.extensions import DependencyProvider

from fengqiao.clock import FileClock, SystemClock
from fengqiao.directory import Directory
from fengqiao.events import Event
from fengqiao.search import SearchIndex, open_index
from fengqiao.settings import DEFAULT_DIRECTORY
from fengqiao.store import CollectionSpec, DocumentStore, open_store

STORE_URI_KEY = "FQ_STORE_URI"
CLOCK_KEY = "FQ_CLOCK"
CLOCK_FILE_KEY = "FQ_CLOCK_FILE"
DIRECTORY_KEY = "FQ_DIRECTORY_FILE"
SEARCH_URI_KEY = "FQ_SEARCH_URI"


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


class DirectoryFile(DependencyProvider):
    def setup(self):
        self.directory = load_directory(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.directory


class Emit:
    """What a service's ``emit`` is: call it with one event, ``each`` with several, or
    ``answer`` with a command's events to publish them and get the RPC answer listing them."""

    def __init__(self, send: Callable[[Event], None]):
        self._send = send

    def __call__(self, event: Event) -> None:
        self._send(event)

    def each(self, events: list[Event]) -> None:
        for event in events:
            self._send(event)

    def answer(self, events: list[Event]) -> dict:
        self.each(events)
        return {"events": [{"type": e.type, **e.data.model_dump(mode="json")} for e in events]}


class Emitter(EventDispatcher):
    """Publishes catalog events on this service's exchange, with publisher confirms."""

    def get_dependency(self, worker_ctx):
        dispatch = super().get_dependency(worker_ctx)
        service = self.container.service_name

        def send(event: Event) -> None:
            if event.source != service:
                raise ValueError(f"{service} cannot emit {event.type}, which belongs to {event.source}")
            dispatch(event.type, event.to_message())

        return Emit(send)
