"""MongoDB adapter for the gateway: PyMongo's native ``AsyncMongoClient`` (motor's successor)."""
from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError as MongoDuplicateKey
from pymongo.errors import PyMongoError

from fengqiao.store import AppendOnlyError, Document, DuplicateKeyError, Filter, Index, Order, Page, StoreError
from fengqiao.store import mongo_query as q
from fengqiao.store.query import encode_cursor, new_document


class AsyncMongoCollection:
    def __init__(self, raw):
        self.name = raw.name
        self._raw = raw
        self._append_only = False

    async def forbid_changes(self) -> None:
        # The adapter refuses; in production the gateway's MongoDB user also holds only find and
        # insert on this collection (deploy/k8s/base/mongodb.yaml), so the database refuses too.
        self._append_only = True

    def _changes_allowed(self) -> None:
        if self._append_only:
            raise AppendOnlyError(f"{self.name}: append-only collection: records are never changed or deleted")

    async def ensure_index(self, *fields: str, unique: bool = False) -> None:
        if fields == ("id",):
            return
        index = Index(tuple(fields), unique)
        await self._raw.create_index(q.to_index_keys(index.fields), unique=unique, name=index.name)

    async def insert(self, doc: Document) -> Document:
        stored = new_document(doc)
        try:
            await self._raw.insert_one(q.to_document(stored))
        except MongoDuplicateKey as exc:
            raise DuplicateKeyError(f"{self.name}: {exc}") from exc
        return stored

    async def get(self, doc_id: str) -> Document | None:
        return q.from_document(await self._raw.find_one({"_id": doc_id}))

    async def find_one(self, where: Filter) -> Document | None:
        return q.from_document(await self._raw.find_one(q.to_filter(where)))

    async def update(self, doc_id: str, changes: Document, *, expected_version: int) -> Document | None:
        self._changes_allowed()
        try:
            raw = await self._raw.find_one_and_update(
                {"_id": doc_id, "version": expected_version},
                q.versioned_set(changes, expected_version),
                return_document=ReturnDocument.AFTER,
            )
        except MongoDuplicateKey as exc:
            raise DuplicateKeyError(f"{self.name}: {exc}") from exc
        return q.from_document(raw)

    async def delete(self, doc_id: str) -> bool:
        self._changes_allowed()
        return (await self._raw.delete_one({"_id": doc_id})).deleted_count > 0

    async def find(
        self, where: Filter | None = None, *, order: Order = Order(), limit: int = 100,
        after: str | None = None,
    ) -> Page:
        cursor = self._raw.find(q.to_filter(where, order, after)).sort(q.to_sort(order)).limit(limit + 1)
        items = [q.from_document(raw) async for raw in cursor]
        page = items[:limit]
        return Page(page, encode_cursor(order, page[-1]) if len(items) > limit else None)

    async def count(self, where: Filter | None = None) -> int:
        return await self._raw.count_documents(q.to_filter(where))

    async def count_by(self, field: str, where: Filter | None = None) -> dict[Any, int]:
        cursor = await self._raw.aggregate(q.count_by_pipeline(field, where))
        return {row["_id"]: row["n"] async for row in cursor}


class AsyncMongoStore:
    def __init__(self, client, database_name: str):
        self._client = client
        self._db = client[database_name]

    @classmethod
    def for_owner(cls, uri: str, owner: str) -> AsyncMongoStore:
        client = AsyncMongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
        return cls(client, q.database_name(uri, owner))

    def collection(self, name: str) -> AsyncMongoCollection:
        return AsyncMongoCollection(self._db[name])

    async def next_sequence(self, name: str, count: int = 1) -> int:
        raw = await self._db[q.SEQUENCES].find_one_and_update(
            {"_id": name}, q.sequence_update(count), upsert=True, return_document=ReturnDocument.AFTER
        )
        return raw["value"]

    async def ping(self) -> None:
        try:
            await self._client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreError(f"MongoDB unreachable: {exc}") from exc

    async def close(self) -> None:
        await self._client.close()
