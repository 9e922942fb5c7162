"""MongoDB adapter for services (PyMongo's synchronous client).

A unit of work (``atomically``) is a multi-document transaction (MongoDB runs as a replica set,
deploy/k8s/base/mongodb.yaml): its session is kept per thread (per greenlet under eventlet) and
every operation inside it passes that session, so they all commit together.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError as MongoDuplicateKey
from pymongo.errors import PyMongoError

from fengqiao.store import AppendOnlyError, Document, DuplicateKeyError, Filter, Index, Order, Page, StoreError
from fengqiao.store import mongo_query as q
from fengqiao.store.query import encode_cursor, new_document, scalar_fields


class MongoCollection:
    def __init__(self, raw, store: MongoStore):
        self.name = raw.name
        self._raw = raw
        self._store = store
        self._append_only = False

    @property
    def _session(self):
        return self._store.session()

    def forbid_changes(self) -> None:
        # The adapter refuses; in production the gateway's MongoDB user also holds only find and
        # insert on this collection (deploy/k8s/base/mongodb.yaml), so the database refuses too.
        self._append_only = True

    def _changes_allowed(self) -> None:
        if self._append_only:
            raise AppendOnlyError(f"{self.name}: append-only collection: records are never changed or deleted")

    def ensure_index(self, *fields: str, unique: bool = False) -> None:
        if fields == ("id",):
            return  # _id is always unique and indexed
        index = Index(tuple(fields), unique)
        self._raw.create_index(q.to_index_keys(index.fields), unique=unique, name=index.name)

    def insert(self, doc: Document) -> Document:
        stored = new_document(doc)
        # Inside a transaction a failed insert aborts the whole unit, so a document that is
        # there already (a redelivered message) is refused before the write is attempted.
        if self._session is not None and self._raw.find_one({"_id": doc["id"]}, {"_id": 1}, session=self._session):
            raise DuplicateKeyError(f"{self.name}: duplicate id {doc['id']}")
        try:
            self._raw.insert_one(q.to_document(stored), session=self._session)
        except MongoDuplicateKey as exc:
            raise DuplicateKeyError(f"{self.name}: {exc}") from exc
        return stored

    def get(self, doc_id: str) -> Document | None:
        return q.from_document(self._raw.find_one({"_id": doc_id}, session=self._session))

    def find_one(self, where: Filter) -> Document | None:
        return q.from_document(self._raw.find_one(q.to_filter(where), session=self._session))

    def update(self, doc_id: str, changes: Document, *, expected_version: int) -> Document | None:
        self._changes_allowed()
        try:
            raw = self._raw.find_one_and_update(
                {"_id": doc_id, "version": expected_version},
                q.versioned_set(changes, expected_version),
                return_document=ReturnDocument.AFTER, session=self._session,
            )
        except MongoDuplicateKey as exc:
            raise DuplicateKeyError(f"{self.name}: {exc}") from exc
        return q.from_document(raw)

    def delete(self, doc_id: str) -> bool:
        self._changes_allowed()
        return self._raw.delete_one({"_id": doc_id}, session=self._session).deleted_count > 0

    def find(
        self, where: Filter | None = None, *, order: Order = Order(), limit: int = 100,
        after: str | None = None, fields: tuple[str, ...] = (),
    ) -> Page:
        projection = {q.mongo_field(f): 1 for f in scalar_fields(fields, order)} or None
        cursor = self._raw.find(q.to_filter(where, order, after), projection, session=self._session).sort(
            q.to_sort(order)).limit(limit + 1)
        items = [q.from_document(raw) for raw in cursor]
        page = items[:limit]
        return Page(page, encode_cursor(order, page[-1]) if len(items) > limit else None)

    def count(self, where: Filter | None = None) -> int:
        return self._raw.count_documents(q.to_filter(where), session=self._session)

    def count_by(self, field: str, where: Filter | None = None) -> dict[Any, int]:
        rows = self._raw.aggregate(q.count_by_pipeline(field, where), session=self._session)
        return {row["_id"]: row["n"] for row in rows}


class MongoStore:
    def __init__(self, client, database_name: str, transactions: bool = True):
        self._client = client
        self._db = client[database_name]
        # mongomock (the unit tests' MongoDB) has no sessions: it runs units of work without one.
        self._transactions = transactions
        self._local = threading.local()

    def session(self):
        """The session of the unit of work this thread is in, or None."""
        return getattr(self._local, "session", None)

    def atomically(self, work: Callable[[], Any]) -> Any:
        if self.session() is not None or not self._transactions:
            return work()
        with self._client.start_session() as session:
            self._local.session = session
            try:
                # with_transaction retries the whole unit on transient errors (write conflicts).
                return session.with_transaction(lambda _: work())
            finally:
                self._local.session = None

    @classmethod
    def for_owner(cls, uri: str, owner: str) -> MongoStore:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
        return cls(client, q.database_name(uri, owner))

    def collection(self, name: str) -> MongoCollection:
        return MongoCollection(self._db[name], self)

    def next_sequence(self, name: str, count: int = 1) -> int:
        raw = self._db[q.SEQUENCES].find_one_and_update(
            {"_id": name}, q.sequence_update(count), upsert=True, return_document=ReturnDocument.AFTER,
            session=self.session(),
        )
        return raw["value"]

    def ping(self) -> None:
        try:
            self._client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreError(f"MongoDB unreachable: {exc}") from exc

    def close(self) -> None:
        self._client.close()
