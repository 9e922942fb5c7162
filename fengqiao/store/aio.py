"""The async face of the store port, for the gateway's event loop.

``AsyncStore`` runs any synchronous adapter (SQLite) in worker threads; MongoDB has its own
native async adapter in ``mongo_async``. Both expose the same coroutine methods.
"""
from __future__ import annotations

import asyncio
from typing import Any

from fengqiao.store import Document, DocumentStore, Filter, Order, Page


class AsyncCollection:
    def __init__(self, collection):
        self._c = collection
        self.name = collection.name

    async def ensure_index(self, *fields: str, unique: bool = False) -> None:
        await asyncio.to_thread(self._c.ensure_index, *fields, unique=unique)

    async def forbid_changes(self) -> None:
        await asyncio.to_thread(self._c.forbid_changes)

    async def insert(self, doc: Document) -> Document:
        return await asyncio.to_thread(self._c.insert, doc)

    async def get(self, doc_id: str) -> Document | None:
        return await asyncio.to_thread(self._c.get, doc_id)

    async def find_one(self, where: Filter) -> Document | None:
        return await asyncio.to_thread(self._c.find_one, where)

    async def update(self, doc_id: str, changes: Document, *, expected_version: int) -> Document | None:
        return await asyncio.to_thread(self._c.update, doc_id, changes, expected_version=expected_version)

    async def delete(self, doc_id: str) -> bool:
        return await asyncio.to_thread(self._c.delete, doc_id)

    async def find(
        self, where: Filter | None = None, *, order: Order = Order(), limit: int = 100,
        after: str | None = None,
    ) -> Page:
        return await asyncio.to_thread(self._c.find, where, order=order, limit=limit, after=after)

    async def count(self, where: Filter | None = None) -> int:
        return await asyncio.to_thread(self._c.count, where)

    async def count_by(self, field: str, where: Filter | None = None) -> dict[Any, int]:
        return await asyncio.to_thread(self._c.count_by, field, where)


class AsyncStore:
    def __init__(self, store: DocumentStore):
        self._store = store

    def collection(self, name: str) -> AsyncCollection:
        return AsyncCollection(self._store.collection(name))

    async def next_sequence(self, name: str, count: int = 1) -> int:
        return await asyncio.to_thread(self._store.next_sequence, name, count)

    async def ping(self) -> None:
        await asyncio.to_thread(self._store.ping)

    async def close(self) -> None:
        await asyncio.to_thread(self._store.close)


def open_async_store(uri: str, owner: str):
    """The async store for one owner: native async for MongoDB, threads for SQLite."""
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from fengqiao.store.mongo_async import AsyncMongoStore

        return AsyncMongoStore.for_owner(uri, owner)
    from fengqiao.store import open_store

    return AsyncStore(open_store(uri, owner))
