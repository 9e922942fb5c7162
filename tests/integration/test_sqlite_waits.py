"""An embedded store or search index waiting for another process's lock, inside an eventlet
service process: the wait must let the process's other green threads run (heartbeats, other
workers), then the write goes through once the lock is released.

SQLite's own busy handler sleeps in C and would stall the whole process for the wait, which
eventlet cannot interrupt: this session applies eventlet's monkey patch (conftest), as the
services' processes do."""
from __future__ import annotations

import sqlite3
import time

import eventlet

from fengqiao.search import CaseQuery, Scope, indexed_case
from fengqiao.search.sqlite import SqliteIndex
from fengqiao.store.sqlite import SqliteStore
from tests.contract.test_search_contract import CASES

LOCKED_SECONDS = 0.6
TICK_SECONDS = 0.01


def held(path) -> sqlite3.Connection:
    """Another process's connection holding the file's write lock until it rolls back."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    return other


def ticks_while_locked(path, write) -> tuple[int, float]:
    """How often a green ticker ran while ``write`` waited for the lock on ``path``, and how long
    the write took once the lock was released."""
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            eventlet.sleep(TICK_SECONDS)

    other = held(path)
    running = eventlet.spawn(ticker)
    writer = eventlet.spawn(write)
    try:
        eventlet.sleep(LOCKED_SECONDS)
        assert not writer.dead, "the write went through while another process held the lock"
        during = len(ticks)
    finally:
        other.rollback()
        other.close()
    released = time.monotonic()
    with eventlet.Timeout(10):
        writer.wait()
    running.kill()
    return during, time.monotonic() - released


def test_a_search_index_waiting_for_a_lock_lets_other_green_threads_run(tmp_path):
    index = SqliteIndex(tmp_path / "search")
    live = tmp_path / "search" / (tmp_path / "search" / "CURRENT").read_text().strip()
    try:
        during, after = ticks_while_locked(live, lambda: index.index([indexed_case(CASES[0])]))
        # About LOCKED_SECONDS / TICK_SECONDS ticks when nothing blocks the hub; none when it is blocked.
        assert during >= LOCKED_SECONDS / TICK_SECONDS / 3, f"only {during} ticks while the index waited"
        assert after < 5
        assert index.count() == 1
        assert [c["id"] for c in index.search(CaseQuery(), Scope()).items] == [CASES[0]["id"]]
    finally:
        index.close()


def test_a_document_store_waiting_for_a_lock_lets_other_green_threads_run(tmp_path):
    store = SqliteStore(tmp_path / "waits.sqlite3")
    cases = store.collection("cases")
    cases.insert({"id": "c1", "status": "new"})
    try:
        during, after = ticks_while_locked(store.path, lambda: store.atomically(lambda: cases.insert({"id": "c2"})))
        assert during >= LOCKED_SECONDS / TICK_SECONDS / 3, f"only {during} ticks while the store waited"
        assert after < 5
        assert cases.get("c2") is not None
    finally:
        store.close()
