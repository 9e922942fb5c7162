"""The document-store port: what services and the gateway need from storage, nothing more.

A collection holds JSON documents keyed by ``id`` and carrying a ``version`` that every update
bumps; updates are conditional on the version the caller read (optimistic concurrency).
Queries use a small Mongo-like filter dialect (see ``fengqiao.store.query``) that both adapters
understand: equality, ``$in``, ``$ne``, ``$gt``/``$gte``/``$lt``/``$lte`` on dotted field paths.
Adapters: SQLite (embedded default, one file per service) and MongoDB (PyMongo, sync and async).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Document = dict[str, Any]
Filter = dict[str, Any]


class StoreError(Exception):
    """The store cannot be reached or refused the operation."""


class DuplicateKeyError(StoreError):
    """An insert collided with an existing id or a unique index."""


class AppendOnlyError(StoreError):
    """An update or delete of a collection that only takes inserts (the audit log)."""


@dataclass(frozen=True)
class Page:
    items: list[Document]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Index:
    fields: tuple[str, ...]
    unique: bool = False

    @property
    def name(self) -> str:
        return ("ux_" if self.unique else "ix_") + "_".join(f.replace(".", "_") for f in self.fields)


@dataclass(frozen=True)
class Order:
    field: str = "id"
    descending: bool = False


class Collection(Protocol):
    name: str

    def ensure_index(self, *fields: str, unique: bool = False) -> None: ...
    def forbid_changes(self) -> None:
        """From now on refuse every update and delete (``AppendOnlyError``)."""
        ...
    def insert(self, doc: Document) -> Document: ...
    def get(self, doc_id: str) -> Document | None: ...
    def find_one(self, where: Filter) -> Document | None: ...
    def update(self, doc_id: str, changes: Document, *, expected_version: int) -> Document | None: ...
    def delete(self, doc_id: str) -> bool: ...
    def find(
        self, where: Filter | None = None, *, order: Order = Order(), limit: int = 100,
        after: str | None = None, fields: tuple[str, ...] = (),
    ) -> Page:
        """``fields``: only these top-level scalar fields (and ``id``) of each document, for a
        read of many small answers; empty means whole documents."""
        ...
    def count(self, where: Filter | None = None) -> int: ...
    def count_by(self, field: str, where: Filter | None = None) -> dict[Any, int]: ...


class DocumentStore(Protocol):
    def collection(self, name: str) -> Collection: ...
    def atomically(self, work: Callable[[], Any]) -> Any:
        """Run ``work``: every write it makes, in any of this store's collections, commits
        together or not at all (the unit of work). It may run ``work`` again after a conflict."""
        ...
    def next_sequence(self, name: str, count: int = 1) -> int:
        """Reserve ``count`` numbers of a named sequence; returns the last one reserved."""
        ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


def open_store(uri: str, owner: str) -> DocumentStore:
    """The store for one owner (a service or the gateway), chosen by URI scheme."""
    if uri.startswith("sqlite://"):
        from fengqiao.store.sqlite import SqliteStore

        return SqliteStore.for_owner(uri, owner)
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from fengqiao.store.mongo import MongoStore

        return MongoStore.for_owner(uri, owner)
    raise ValueError(f"FQ_STORE_URI must start with sqlite:// or mongodb://, got {uri!r}")


@dataclass
class CollectionSpec:
    """A collection and the indexes its owner queries by; applied idempotently at start.
    An append-only collection refuses updates and deletes from then on."""

    name: str
    indexes: list[Index] = field(default_factory=list)
    append_only: bool = False

    def open(self, store: DocumentStore) -> Collection:
        collection = store.collection(self.name)
        for index in self.indexes:
            collection.ensure_index(*index.fields, unique=index.unique)
        if self.append_only:
            collection.forbid_changes()
        return collection

    async def open_async(self, store):
        """The same for an async store (``fengqiao.store.aio``)."""
        collection = store.collection(self.name)
        for index in self.indexes:
            await collection.ensure_index(*index.fields, unique=index.unique)
        if self.append_only:
            await collection.forbid_changes()
        return collection
