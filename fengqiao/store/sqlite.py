"""Embedded document store on SQLite: one database file per owner, WAL journal.

Documents are JSON text; queries run on ``json_extract`` expressions, which expression indexes
created by ``ensure_index`` serve. A statement never yields to other greenlets or threads
while it runs, and a lock serialises the read-modify-write of ``update``.

When another process holds the file's write lock, a write waits up to ``BUSY_SECONDS``, in short
waits inside SQLite with sleeps between them: SQLite's own busy wait sleeps in C, which in an
eventlet process would stall every green thread (heartbeats included) for the whole wait.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import orjson

from fengqiao.store import AppendOnlyError, Document, DuplicateKeyError, Filter, Index, Order, Page, StoreError
from fengqiao.store.query import check_field, decode_cursor, encode_cursor, new_document, normalize, scalar_fields

T = TypeVar("T")
_SQL_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
APPEND_ONLY = "append-only collection: records are never changed or deleted"
BUSY_SECONDS = 30.0  # how long a write waits for another process's lock before it fails
BUSY_POLL_SECONDS = 0.05  # one wait inside SQLite; other green threads run between them


def _refusal(name: str, exc: sqlite3.IntegrityError) -> StoreError:
    if APPEND_ONLY in str(exc):
        return AppendOnlyError(f"{name}: {APPEND_ONLY}")
    return DuplicateKeyError(f"{name}: {exc}")


def _locked(exc: sqlite3.OperationalError) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def patiently(statement: Callable[[], T], patience: float = BUSY_SECONDS) -> T:
    """Run a statement, again while another process holds the lock, until ``patience`` runs out.
    A statement that failed for a lock changed nothing, so running it again is safe."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as exc:
            if not _locked(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(BUSY_POLL_SECONDS)


def _expr(path: str) -> str:
    if path == "id":
        return "id"
    return f"json_extract(doc, '$.{check_field(path)}')"


def dumps(doc: Any) -> str:
    """JSON text as the table holds it (compact, UTF-8 unescaped). orjson: a store's time goes
    largely to encoding and decoding documents, and it does both about six times faster than
    the standard library; text, not bytes, so SQLite's JSON functions can read the column."""
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


loads = orjson.loads


def _where_sql(where: Filter | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for path, op, value in normalize(where):
        expr = _expr(path)
        if op == "$eq":
            if value is None:
                clauses.append(f"{expr} IS NULL")
            else:
                clauses.append(f"{expr} = ?")
                params.append(value)
        elif op == "$ne":
            if value is None:
                clauses.append(f"{expr} IS NOT NULL")
            else:
                clauses.append(f"({expr} IS NULL OR {expr} != ?)")
                params.append(value)
        elif op == "$in":
            present = [v for v in value if v is not None]
            parts = [f"{expr} IN ({','.join('?' * len(present))})"] if present else []
            if None in value:
                parts.append(f"{expr} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")" if parts else "0")
            params.extend(present)
        else:
            clauses.append(f"{expr} {_SQL_OPS[op]} ?")
            params.append(value)
    return (" AND ".join(clauses) or "1"), params


def _set_path(doc: Document, path: str, value: Any) -> None:
    *parents, leaf = check_field(path).split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


class SqliteCollection:
    def __init__(self, store: SqliteStore, name: str):
        check_field(name)
        self.name = name
        self._store = store
        self._table = f'"c_{name}"'
        store.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} "
            "(id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)"
        )

    def ensure_index(self, *fields: str, unique: bool = False) -> None:
        index = Index(tuple(fields), unique)
        exprs = ", ".join(_expr(f) for f in fields)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        self._store.execute(
            f'CREATE {kind} IF NOT EXISTS "{self.name}__{index.name}" ON {self._table} ({exprs})'
        )

    def forbid_changes(self) -> None:
        # Triggers, so that the database itself refuses, whatever code path tries.
        for action in ("UPDATE", "DELETE"):
            self._store.execute(
                f'CREATE TRIGGER IF NOT EXISTS "{self.name}__no_{action.lower()}" BEFORE {action} ON {self._table} '
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )

    def insert(self, doc: Document) -> Document:
        stored = new_document(doc)
        try:
            self._store.execute(
                f"INSERT INTO {self._table} (id, version, doc) VALUES (?, 1, ?)",
                (doc["id"], dumps(stored)),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateKeyError(f"{self.name}: {exc}") from exc
        return stored

    def get(self, doc_id: str) -> Document | None:
        row = self._store.query_one(f"SELECT doc FROM {self._table} WHERE id = ?", (doc_id,))
        return loads(row[0]) if row else None

    def find_one(self, where: Filter) -> Document | None:
        page = self.find(where, limit=1)
        return page.items[0] if page.items else None

    def update(self, doc_id: str, changes: Document, *, expected_version: int) -> Document | None:
        if {"id", "version"} & changes.keys():
            raise ValueError("id and version are managed by the store")
        with self._store.transaction() as conn:
            row = conn.execute(
                f"SELECT doc FROM {self._table} WHERE id = ? AND version = ?",
                (doc_id, expected_version),
            ).fetchone()
            if row is None:
                return None
            doc = loads(row[0])
            for path, value in changes.items():
                _set_path(doc, path, value)
            doc["version"] = expected_version + 1
            try:
                conn.execute(
                    f"UPDATE {self._table} SET version = ?, doc = ? WHERE id = ? AND version = ?",
                    (doc["version"], dumps(doc), doc_id, expected_version),
                )
            except sqlite3.IntegrityError as exc:
                raise _refusal(self.name, exc) from exc
        return doc

    def delete(self, doc_id: str) -> bool:
        try:
            return self._store.execute(f"DELETE FROM {self._table} WHERE id = ?", (doc_id,)) > 0
        except sqlite3.IntegrityError as exc:
            raise _refusal(self.name, exc) from exc

    def find(
        self, where: Filter | None = None, *, order: Order = Order(), limit: int = 100,
        after: str | None = None, fields: tuple[str, ...] = (),
    ) -> Page:
        sql, params = _where_sql(where)
        key = _expr(order.field)
        direction, beyond = ("DESC", "<") if order.descending else ("ASC", ">")
        if after:
            value, last_id = decode_cursor(after)
            if order.field == "id":
                sql += f" AND id {beyond} ?"
                params.append(last_id)
            else:
                sql += f" AND ({key} {beyond} ? OR ({key} = ? AND id {beyond} ?))"
                params.extend([value, value, last_id])
        shown = scalar_fields(fields, order)
        # Scalars taken out by SQLite skip decoding the whole document in Python.
        selected = ", ".join(["id", *(_expr(f) for f in shown)]) if shown else "doc"
        rows = self._store.query_all(
            f"SELECT {selected} FROM {self._table} WHERE {sql} "
            f"ORDER BY {key} {direction}, id {direction} LIMIT ?",
            (*params, limit + 1),
        )
        items = [dict(zip(("id", *shown), r, strict=True)) if shown else loads(r[0]) for r in rows[:limit]]
        cursor = encode_cursor(order, items[-1]) if len(rows) > limit else None
        return Page(items, cursor)

    def count(self, where: Filter | None = None) -> int:
        sql, params = _where_sql(where)
        return self._store.query_one(f"SELECT COUNT(*) FROM {self._table} WHERE {sql}", params)[0]

    def count_by(self, field: str, where: Filter | None = None) -> dict[Any, int]:
        sql, params = _where_sql(where)
        expr = _expr(field)
        rows = self._store.query_all(
            f"SELECT {expr}, COUNT(*) FROM {self._table} WHERE {sql} GROUP BY {expr}", params
        )
        return {value: n for value, n in rows}


class _Transaction:
    """One transaction on the store's connection; entered again inside it, a savepoint, so that
    a unit of work can hold the writes of several domain steps (each with its own transaction)."""

    def __init__(self, store: SqliteStore):
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        # IMMEDIATE takes the write lock up front, so another process cannot slip a write
        # between our read and our update.
        begin = "BEGIN IMMEDIATE" if store._depth == 0 else f"SAVEPOINT sp{store._depth}"
        try:
            store._patiently(lambda: store._conn.execute(begin))
        except sqlite3.Error as exc:
            store._lock.release()  # __exit__ will not run: left held, every later unit of work would hang
            raise StoreError(f"{store.path}: {exc}") from exc
        store._depth += 1
        return store._conn

    def __exit__(self, exc_type, exc, tb) -> None:
        store = self._store
        store._depth -= 1
        try:
            if store._depth == 0:
                store._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            elif exc_type:
                store._conn.execute(f"ROLLBACK TO sp{store._depth}")
                store._conn.execute(f"RELEASE sp{store._depth}")
            else:
                store._conn.execute(f"RELEASE sp{store._depth}")
        finally:
            store._lock.release()


class SqliteStore:
    def __init__(self, path: Path | str, busy_seconds: float = BUSY_SECONDS):
        self.path = str(path)
        self.busy_seconds = busy_seconds
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0  # transactions entered and not left (see _Transaction)
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_POLL_SECONDS
            )
            # NORMAL in WAL mode: durable across application crashes, fsync at checkpoints.
            for statement in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                              "CREATE TABLE IF NOT EXISTS _sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"):
                self._patiently(lambda: self._conn.execute(statement))  # noqa: B023 (run at once)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store at {self.path}: {exc}") from exc
        self._collections: dict[str, SqliteCollection] = {}

    @classmethod
    def for_owner(cls, uri: str, owner: str) -> SqliteStore:
        directory = urlparse(uri).path or "."
        return cls(Path(directory) / f"{owner}.sqlite3")

    def collection(self, name: str) -> SqliteCollection:
        with self._lock:
            if name not in self._collections:
                self._collections[name] = SqliteCollection(self, name)
            return self._collections[name]

    def next_sequence(self, name: str, count: int = 1) -> int:
        row = self.query_one(
            "INSERT INTO _sequences (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
            (name, count),
        )
        return row[0]

    def ping(self) -> None:
        self.query_one("SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _patiently(self, statement: Callable[[], T]) -> T:
        # Inside a transaction the write lock is ours already: nothing there waits for it.
        return patiently(statement, self.busy_seconds if self._depth == 0 else 0.0)

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    def atomically(self, work: Callable[[], T]) -> T:
        """Run ``work``: every write it makes commits together, or none does."""
        with self.transaction():
            return work()

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        with self._lock:
            try:
                return self._patiently(lambda: self._conn.execute(sql, params)).rowcount
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def query_one(self, sql: str, params: tuple | list = ()) -> tuple | None:
        with self._lock:
            try:
                return self._patiently(lambda: self._conn.execute(sql, params).fetchone())
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def query_all(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._patiently(lambda: self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc
