"""One behaviour, every backend: the store port's contract.

Runs against SQLite always, against mongomock for the sync MongoDB adapter, and against a real
MongoDB (sync and async) whenever FQ_TEST_MONGO_URI points at one.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid

import mongomock
import pytest

from fengqiao.store import AppendOnlyError, CollectionSpec, DuplicateKeyError, Order, StoreError
from fengqiao.store.aio import AsyncStore
from fengqiao.store.mongo import MongoStore
from fengqiao.store.sqlite import SqliteStore

MONGO_URI = os.environ.get("FQ_TEST_MONGO_URI")
NO_MONGO = "FQ_TEST_MONGO_URI is not set: no MongoDB server here, real-Mongo contract runs skipped"


def _real_mongo(client_cls):
    from urllib.parse import urlparse

    host = urlparse(MONGO_URI).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        pytest.fail(f"FQ_TEST_MONGO_URI must point at this machine (127.0.0.0/8), not {host}")
    return client_cls(MONGO_URI, serverSelectionTimeoutMS=3000, tz_aware=True)


@pytest.fixture(params=["sqlite", "mongomock", "mongodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "contract.sqlite3")
    elif request.param == "mongomock":
        s = MongoStore(mongomock.MongoClient(tz_aware=True), "fengqiao_contract", transactions=False)
    else:
        if not MONGO_URI:
            pytest.skip(NO_MONGO)
        import pymongo

        client = _real_mongo(pymongo.MongoClient)
        name = f"fq_contract_{uuid.uuid4().hex[:8]}"
        s = MongoStore(client, name)
        request.addfinalizer(lambda: client.drop_database(name))
    yield s
    s.close()


def seed(c):
    c.ensure_index("channel", "source_id", unique=True)
    c.ensure_index("risk")
    rows = [
        ("c1", "hotline_12345", "H1", 1, "received", "150102", "2026-01-05T09:00:00.000Z"),
        ("c2", "hotline_12345", "H2", 3, "assigned", "150102001", "2026-01-05T09:05:00.000Z"),
        ("c3", "police_110", "P1", 2, "assigned", "150525", "2026-01-05T09:05:00.000Z"),
        ("c4", "petition", "X1", 2, "received", None, "2026-01-05T10:00:00.000Z"),
        ("c5", "grid", "G1", 1, "closed", "510183", "2026-01-06T08:00:00.000Z"),
    ]
    for id_, channel, source_id, risk, status, region, received in rows:
        c.insert({"id": id_, "channel": channel, "source_id": source_id, "risk": risk, "status": status,
                  "received_at": received, "assignment": {"region_code": region, "level": "county"}})


def ids(page):
    return [d["id"] for d in page.items]


def test_insert_and_get(store):
    c = store.collection("cases")
    stored = c.insert({"id": "c1", "text": "楼上漏水", "reporter": {"name": "王某"}})
    assert stored["version"] == 1
    assert c.get("c1") == {"id": "c1", "text": "楼上漏水", "reporter": {"name": "王某"}, "version": 1}
    assert c.get("missing") is None


def test_duplicate_ids_and_unique_indexes_are_refused(store):
    c = store.collection("cases")
    seed(c)
    with pytest.raises(DuplicateKeyError):
        c.insert({"id": "c1"})
    with pytest.raises(DuplicateKeyError):
        c.insert({"id": "c9", "channel": "hotline_12345", "source_id": "H1"})
    assert c.count() == 5


def test_updates_are_conditional_on_the_version(store):
    c = store.collection("cases")
    seed(c)
    updated = c.update("c1", {"status": "assigned", "assignment.level": "township"}, expected_version=1)
    assert updated["version"] == 2 and updated["status"] == "assigned"
    assert updated["assignment"] == {"region_code": "150102", "level": "township"}
    assert c.update("c1", {"status": "closed"}, expected_version=1) is None  # stale
    assert c.get("c1")["status"] == "assigned"
    assert c.update("nope", {"status": "x"}, expected_version=1) is None


def test_an_update_may_not_break_a_unique_index(store):
    c = store.collection("cases")
    seed(c)
    with pytest.raises(DuplicateKeyError):
        c.update("c2", {"source_id": "H1"}, expected_version=1)


def test_delete(store):
    c = store.collection("cases")
    seed(c)
    assert c.delete("c1") and not c.delete("c1")
    assert c.count() == 4


@pytest.mark.parametrize("where, expected", [
    ({"channel": "hotline_12345"}, ["c1", "c2"]),
    ({"risk": {"$gte": 2}}, ["c2", "c3", "c4"]),
    ({"risk": {"$gt": 1, "$lt": 3}}, ["c3", "c4"]),
    ({"status": {"$in": ["closed", "received"]}}, ["c1", "c4", "c5"]),
    ({"status": {"$ne": "assigned"}}, ["c1", "c4", "c5"]),
    ({"assignment.region_code": "150102"}, ["c1"]),
    ({"assignment.region_code": None}, ["c4"]),
    ({"assignment.region_code": {"$ne": None}}, ["c1", "c2", "c3", "c5"]),
    ({"received_at": {"$gte": "2026-01-05T09:05:00.000Z", "$lt": "2026-01-06T00:00:00.000Z"}}, ["c2", "c3", "c4"]),
    ({"id": {"$in": ["c5", "c2", "zz"]}}, ["c2", "c5"]),
    ({"channel": "court"}, []),
])
def test_find_filters(store, where, expected):
    c = store.collection("cases")
    seed(c)
    assert ids(c.find(where)) == expected
    assert c.count(where) == len(expected)
    first = c.find_one(where)
    assert (first["id"] if first else None) == (expected[0] if expected else None)


@pytest.mark.parametrize("order, expected", [
    (Order("received_at"), ["c1", "c2", "c3", "c4", "c5"]),
    (Order("received_at", descending=True), ["c5", "c4", "c3", "c2", "c1"]),
    (Order("risk"), ["c1", "c5", "c3", "c4", "c2"]),
    (Order("id", descending=True), ["c5", "c4", "c3", "c2", "c1"]),
])
def test_pages_follow_the_order_through_ties(store, order, expected):
    c = store.collection("cases")
    seed(c)
    seen, cursor = [], None
    while True:
        page = c.find(order=order, limit=2, after=cursor)
        seen += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


def test_counts_grouped_by_a_field(store):
    c = store.collection("cases")
    seed(c)
    assert c.count_by("status") == {"received": 2, "assigned": 2, "closed": 1}
    assert c.count_by("channel", {"risk": {"$gte": 2}}) == {"hotline_12345": 1, "police_110": 1, "petition": 1}
    assert c.count_by("assignment.level") == {"county": 5}


def test_sequences_count_up_per_name(store):
    assert [store.next_sequence("a") for _ in range(3)] == [1, 2, 3]
    assert store.next_sequence("b") == 1
    assert store.next_sequence("a", 10) == 13  # a block of ten: 4 … 13
    assert store.next_sequence("a") == 14


def test_collections_are_separate(store):
    store.collection("one").insert({"id": "x"})
    assert store.collection("two").get("x") is None


def test_store_answers_ping(store):
    store.ping()


# --- async face (the gateway's) -------------------------------------------------------------

@pytest.fixture(params=["sqlite", "mongodb"])
def async_store(request, tmp_path):
    if request.param == "sqlite":
        yield AsyncStore(SqliteStore(tmp_path / "contract-async.sqlite3"))
        return
    if not MONGO_URI:
        pytest.skip(NO_MONGO + " (mongomock has no async API)")
    from pymongo import AsyncMongoClient

    from fengqiao.store.mongo_async import AsyncMongoStore

    name = f"fq_contract_{uuid.uuid4().hex[:8]}"
    yield AsyncMongoStore(_real_mongo(AsyncMongoClient), name)
    import pymongo

    pymongo.MongoClient(MONGO_URI).drop_database(name)


def test_async_face_keeps_the_same_contract(async_store):
    async def scenario():
        c = async_store.collection("receipts")
        await c.ensure_index("case_id", unique=True)
        await c.insert({"id": "hotline_12345/H1", "case_id": "c1", "state": "pending"})
        with pytest.raises(DuplicateKeyError):
            await c.insert({"id": "hotline_12345/H2", "case_id": "c1", "state": "pending"})
        updated = await c.update("hotline_12345/H1", {"state": "accepted"}, expected_version=1)
        assert updated["state"] == "accepted"
        assert await c.update("hotline_12345/H1", {"state": "x"}, expected_version=1) is None
        assert (await c.find_one({"case_id": "c1"}))["state"] == "accepted"
        assert ids(await c.find({"state": "accepted"})) == ["hotline_12345/H1"]
        assert await c.count() == 1
        assert await c.count_by("state") == {"accepted": 1}
        assert [await async_store.next_sequence("n") for _ in range(2)] == [1, 2]
        assert await c.delete("hotline_12345/H1")
        await async_store.ping()
        await async_store.close()

    asyncio.run(scenario())


def test_an_append_only_collection_takes_inserts_and_refuses_changes(store):
    log = CollectionSpec("audit_contract", append_only=True).open(store)
    record = log.insert({"id": "a1", "actor_name": "李明", "action": "case.assign"})
    with pytest.raises(AppendOnlyError):
        log.update("a1", {"action": "nothing"}, expected_version=record["version"])
    with pytest.raises(AppendOnlyError):
        log.delete("a1")
    assert log.get("a1")["action"] == "case.assign" and log.count() == 1


def test_sqlite_itself_refuses_changes_to_an_append_only_collection(tmp_path):
    store = SqliteStore(tmp_path / "audit.sqlite3")
    CollectionSpec("audit_contract", append_only=True).open(store).insert({"id": "a1", "n": 1})
    store.close()
    raw = sqlite3.connect(tmp_path / "audit.sqlite3")  # another program, beside the adapter
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute('DELETE FROM "c_audit_contract"')
    raw.close()


def test_a_projected_read_returns_only_the_fields_asked_for_and_pages_alike(store):
    c = store.collection("cases")
    seed(c)
    order = Order("received_at", descending=True)
    whole = c.find({"risk": {"$gte": 2}}, order=order, limit=2)
    shown = c.find({"risk": {"$gte": 2}}, order=order, limit=2, fields=("channel", "risk"))
    assert shown.items == [{"id": d["id"], "channel": d["channel"], "risk": d["risk"], "received_at": d["received_at"]}
                           for d in whole.items]
    rest = c.find({"risk": {"$gte": 2}}, order=order, limit=2, after=shown.next_cursor, fields=("channel",))
    assert ids(rest) == ids(c.find({"risk": {"$gte": 2}}, order=order, limit=2, after=whole.next_cursor)) == ["c2"]
    with pytest.raises(ValueError, match="top-level"):
        c.find(fields=("assignment.level",))


def hold_the_write_lock(path) -> sqlite3.Connection:
    """Another process's connection holding the file's write lock until it rolls back."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_a_sqlite_write_waits_for_another_process_to_release_the_file(tmp_path):
    store = SqliteStore(tmp_path / "waits.sqlite3", busy_seconds=30)
    cases = store.collection("cases")
    cases.insert({"id": "c1", "status": "new"})
    other = hold_the_write_lock(store.path)
    written = threading.Event()
    writer = threading.Thread(target=lambda: (store.atomically(lambda: cases.insert({"id": "c2"})), written.set()))
    writer.start()
    try:
        assert not written.wait(0.3), "the write went through while another process held the lock"
    finally:
        other.rollback()
    assert written.wait(10), "the write never went through after the lock was released"
    writer.join(10)
    assert cases.get("c2") is not None
    store.close()


def test_a_sqlite_unit_of_work_that_gave_up_waiting_leaves_the_store_usable(tmp_path):
    store = SqliteStore(tmp_path / "gives-up.sqlite3", busy_seconds=0.2)
    cases = store.collection("cases")
    other = hold_the_write_lock(store.path)
    try:
        with pytest.raises(StoreError, match="locked"):
            store.atomically(lambda: cases.insert({"id": "c1"}))
    finally:
        other.rollback()
    # From another thread: had the store's own lock been left held, this would wait for ever.
    done = threading.Event()
    threading.Thread(target=lambda: (store.atomically(lambda: cases.insert({"id": "c1"})), done.set()),
                     daemon=True).start()
    assert done.wait(10), "the store stayed locked after a unit of work gave up"
    assert cases.get("c1") is not None
    store.close()
