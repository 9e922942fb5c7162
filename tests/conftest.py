"""Fixtures shared by every test session. Nothing here may import nameko's runtime or eventlet:
the gateway and e2e sessions must stay free of eventlet's monkey patch."""
from __future__ import annotations

import pytest

from fengqiao.clock import FakeClock
from fengqiao.store.sqlite import SqliteStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_store(tmp_path):
    store = SqliteStore(tmp_path / "test.sqlite3")
    yield store
    store.close()


@pytest.fixture
def memory_store():
    """The embedded store kept in memory: real SQL, no disk, for domain tests."""
    store = SqliteStore(":memory:")
    yield store
    store.close()
