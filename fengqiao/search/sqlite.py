"""Embedded search on SQLite FTS5, one database file per index generation.

Three tables share one rowid, the case's ``sequence`` (received time, then id), so the
newest-first list is the natural order of each: ``cases`` holds the filter fields only (narrow
rows scan fast), ``shown`` the list summary and masked text (read for one page only), and the
FTS5 table ``terms`` the bigram tokens (``analysis.tokens``, joined by spaces). A text search
walks FTS5's matches backwards and stops after one page, without sorting them. Reports merged
into another case are not in ``terms``: a text search finds them through their case.

A query is counted first (up to ``TOTAL_LIMIT``), and the count chooses the plan of its page:
many matches are found soonest by walking the table in order; a few are found through an index
and sorted.

A rebuild writes a new generation file beside the live one and then points ``CURRENT`` at it;
every reader and writer notices the switch at its next call.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from fengqiao.search import (
    MAX_PAGE,
    SEQUENCE_HASH_BITS,
    SUBTREE_END,
    TOTAL_LIMIT,
    CaseQuery,
    Scope,
    SearchPage,
    batches,
    decode_cursor,
    encode_cursor,
    epoch_ms,
    indexed_case,
    region_prefix,
    sort_key,
)
from fengqiao.search.analysis import HAN_RUN, query_terms, snippet, tokens
from fengqiao.store.sqlite import BUSY_POLL_SECONDS, dumps, loads, patiently

TABLES = """
CREATE TABLE IF NOT EXISTS cases (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 0,
    region_code TEXT, level TEXT, unit_id TEXT, category TEXT, risk INTEGER, status TEXT, channel TEXT,
    received_at TEXT, due_key TEXT, overdue INTEGER, monitoring INTEGER, terms_key TEXT);
CREATE TABLE IF NOT EXISTS shown (seq INTEGER PRIMARY KEY, text TEXT, summary TEXT NOT NULL);
-- The columns hold tokens already (analysis.tokens, space-separated): the ascii tokenizer splits
-- on the spaces and keeps every non-ASCII character as it is.
CREATE VIRTUAL TABLE IF NOT EXISTS terms USING fts5(text, address, names, tails, tokenize='ascii');
"""
# Created after a rebuild's bulk load: sorting once is far cheaper than a million random inserts.
# Each leads with a field staff filter by and covers the ones often asked with it, so that most
# counts are read from an index alone.
INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS ux_cases_id ON cases(id);
CREATE INDEX IF NOT EXISTS ix_cases_region ON cases(region_code, status, category, risk, channel, level, overdue,
                                                   monitoring, unit_id);
CREATE INDEX IF NOT EXISTS ix_cases_category ON cases(category, risk, status);
CREATE INDEX IF NOT EXISTS ix_cases_unit ON cases(unit_id, status, overdue);
CREATE INDEX IF NOT EXISTS ix_cases_status ON cases(status, risk, overdue);
CREATE INDEX IF NOT EXISTS ix_cases_due ON cases(due_key, seq);
CREATE INDEX IF NOT EXISTS ix_cases_risk ON cases(risk, seq);
"""
BUILD_CACHE_KIB = 256 * 1024
FILTER_COLUMNS = ("region_code", "level", "unit_id", "category", "risk", "status", "channel", "received_at",
                  "due_key", "overdue", "monitoring")
# {seq} is terms.rowid when FTS5 drives the query (so it walks its matches in order), else cases.seq.
ORDERS = {"received": "{seq} DESC", "due": "cases.due_key ASC, {seq} ASC", "risk": "cases.risk DESC, {seq} DESC"}
AFTER = {"received": "{seq} < ?", "due": "(cases.due_key, {seq}) > (?, ?)", "risk": "(cases.risk, {seq}) < (?, ?)"}
COLUMNS = "cases.seq, cases.due_key, cases.risk"
BATCH = 10_000  # documents a rebuild sorts and inserts at a time
PREPARERS = 2  # worker processes of a rebuild
CATCH_UP_BATCH = 500
SIMILAR_TERMS = 12
SIMILAR_CANDIDATE_TERMS = 24
SIMILAR_FREQUENCY_CAP = 5000
DENSE = 1000  # matches from which walking the table in received order finds a page sooner than an index
MERGED = "merged"


def _terms_of(doc: dict) -> tuple[str, str, str, str]:
    return (" ".join(tokens(doc["text"])), " ".join(tokens(doc["address"])), " ".join(tokens(doc["names"])),
            " ".join(doc["tails"]))


def _phrase(term: str) -> str:
    return '"' + " ".join(tokens(term)) + '"'


def _first_sequence(moment: str) -> int:
    """The lowest sequence number of a case received at ``moment``."""
    return epoch_ms(moment) << SEQUENCE_HASH_BITS


class SqliteIndex:
    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pointer = directory / "CURRENT"
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._seen: int | None = None
        if not self.pointer.exists():
            name = self._new_generation()
            _connect(self.directory / name).close()
            self._point_to(name)

    @classmethod
    def open(cls, uri: str) -> SqliteIndex:
        return cls(Path(urlparse(uri).path))

    # --- generations ---------------------------------------------------------------------------

    @staticmethod
    def _new_generation() -> str:
        return f"cases-{time.time_ns()}.db"

    def _point_to(self, name: str) -> None:
        staged = self.pointer.with_suffix(".new")
        staged.write_text(name)
        os.replace(staged, self.pointer)  # atomic: readers see the old name or the new one

    def _db(self) -> sqlite3.Connection:
        """The live generation's connection, reopened when a rebuild has switched generations."""
        stamp = self.pointer.stat().st_mtime_ns
        if self._conn is None or stamp != self._seen:
            if self._conn is not None:
                self._conn.close()
            self._conn = _connect(self.directory / self.pointer.read_text().strip())
            self._seen = stamp
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- writing -------------------------------------------------------------------------------

    def index(self, docs: Iterable[dict]) -> None:
        with self._lock:
            db = self._db()
            with db:
                _begin_writing(db)
                for doc in docs:
                    _write(db, doc)

    def rebuild(self, views: Callable[[], Iterable[dict]], total: int,
                progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        name = self._new_generation()
        db = _connect_for_build(self.directory / name)
        done, taken = 0, set()
        # Worker processes turn views into rows (tokens, masks, JSON), the larger half of the
        # work, while this one inserts the rows they finished.
        pool = ProcessPoolExecutor(PREPARERS, mp_context=multiprocessing.get_context("fork"))
        try:
            preparing: deque[Future] = deque()
            for batch in batches(views(), BATCH):
                preparing.append(pool.submit(prepare_rows, batch))
                if len(preparing) > PREPARERS:
                    done += _insert_new(db, preparing.popleft().result(), taken)
                    progress(done, total)
            while preparing:
                done += _insert_new(db, preparing.popleft().result(), taken)
            db.executescript(INDEXES + "ANALYZE;")
            progress(done, total)
        finally:
            pool.shutdown(cancel_futures=True)
            db.close()
        old = self.pointer.read_text().strip()
        with self._lock:
            self._point_to(name)
        self._catch_up(views())
        self._remove(old)
        return done

    def _catch_up(self, views: Iterable[dict]) -> None:
        """Index the views whose version moved on while the new generation was being built, a
        short transaction at a time so the live service's writes are never kept waiting long."""
        for batch in batches(views, CATCH_UP_BATCH):
            with self._lock:
                db = self._db()
                with db:
                    _begin_writing(db)
                    for view in batch:
                        stored = db.execute("SELECT version FROM cases WHERE id = ?", (view["id"],)).fetchone()
                        if stored is None or stored[0] < (view.get("version") or 0):
                            _write(db, indexed_case(view))

    def _remove(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            (self.directory / f"{name}{suffix}").unlink(missing_ok=True)

    # --- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return self._db().execute("SELECT count(*) FROM cases").fetchone()[0]

    def search(self, query: CaseQuery, scope: Scope, cursor: str | None = None, limit: int = 50) -> SearchPage:
        limit = min(max(limit, 1), MAX_PAGE)
        terms = query_terms(query.q)
        match = " AND ".join(_phrase(t) for t in terms)
        # A text query is driven by FTS5, which walks its matches in rowid (= received) order.
        source, seq = (("terms JOIN cases ON cases.seq = terms.rowid", "terms.rowid") if match
                       else ("cases", "cases.seq"))
        where, params = _filters(query, scope, seq)
        if match:
            where, params = ["terms MATCH ?", *where], [match, *params]
        after = decode_cursor(cursor, query.sort)
        page_where, page_params = list(where), list(params)
        if after is not None:
            page_where.append(AFTER[query.sort].format(seq=seq))
            page_params += after
        with self._lock:
            db = self._db()
            total = _count(db, match, query, scope, source, where, params)
            if not match and query.sort == "received" and total > DENSE:
                source = "cases NOT INDEXED"  # matches are everywhere: the next page is a few rows away
            rows = db.execute(
                f"SELECT {COLUMNS} FROM {source} WHERE {' AND '.join(page_where) or '1'} "
                f"ORDER BY {ORDERS[query.sort].format(seq=seq)} LIMIT ?", [*page_params, limit + 1]).fetchall()
            items = _shown(db, [row[0] for row in rows[:limit]], terms)
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = encode_cursor(query.sort, sort_key(
            {"seq": last[0], "due_key": last[1], "risk": last[2]}, query.sort)) if last else None
        return SearchPage(items, next_cursor, min(total, TOTAL_LIMIT), total <= TOTAL_LIMIT)

    def similar(self, case_id: str, scope: Scope, limit: int = 10) -> list[dict]:
        with self._lock:
            db = self._db()
            row = db.execute("SELECT cases.seq, shown.text FROM cases JOIN shown ON shown.seq = cases.seq "
                             "WHERE cases.id = ?", (case_id,)).fetchone()
            if row is None:
                return []
            seq, text = row
            telling = _telling_terms(db, text)
            if not telling:
                return []
            return _shown(db, _alike(db, telling, seq, scope, limit), telling)


def _alike(db: sqlite3.Connection, telling: list[str], before: int, scope: Scope, limit: int) -> list[int]:
    """Earlier cases sharing all of the rarest words first, then fewer of them, then any one:
    each step ranks a small set by BM25, instead of every case that shares one common word."""
    where, params = _filters(CaseQuery(), scope, "terms.rowid")
    found: dict[int, None] = {}
    for needed in [*dict.fromkeys(min(n, len(telling)) for n in (4, 2)), 0]:  # 0: any one of them
        chosen = telling[:needed] if needed else telling
        match = "text : (" + (" AND " if needed else " OR ").join(f'"{t}"' for t in chosen) + ")"
        rows = db.execute(
            f"SELECT cases.seq FROM terms JOIN cases ON cases.seq = terms.rowid "
            f"WHERE terms MATCH ? AND terms.rowid < ? AND {' AND '.join(where)} "
            f"ORDER BY bm25(terms), cases.seq DESC LIMIT ?", [match, before, *params, limit]).fetchall()
        found.update(dict.fromkeys(r[0] for r in rows))
        if len(found) >= limit:
            break
    return list(found)[:limit]


def _telling_terms(db: sqlite3.Connection, text: str) -> list[str]:
    """The case's rarest words (Han bigrams) that at least one other case shares: they say most
    about it. Frequencies are counted up to a cap, which keeps common words cheap to rule out;
    digits (masked phone fragments, house numbers) say nothing about the matter."""
    words = [t for t in dict.fromkeys(tokens(text)) if HAN_RUN.match(t)][:SIMILAR_CANDIDATE_TERMS]
    frequency = {w: db.execute("SELECT count(*) FROM (SELECT 1 FROM terms WHERE terms MATCH ? LIMIT ?)",
                               (f'text : "{w}"', SIMILAR_FREQUENCY_CAP)).fetchone()[0] for w in words}
    return sorted((w for w in words if frequency[w] > 1), key=lambda w: (frequency[w], w))[:SIMILAR_TERMS]


def _count(db: sqlite3.Connection, match: str, query: CaseQuery, scope: Scope, source: str, where: list[str],
           params: list) -> int:
    """How many cases match, up to TOTAL_LIMIT + 1."""
    if match and scope.unlimited and query == CaseQuery(q=query.q, sort=query.sort):
        # Words only: FTS5 counts alone (merged reports are not in it).
        source, where, params = "terms", ["terms MATCH ?"], [match]
    return db.execute(f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {' AND '.join(where) or '1'} "
                      f"LIMIT ?)", [*params, TOTAL_LIMIT + 1]).fetchone()[0]


def _shown(db: sqlite3.Connection, seqs: list[int], terms: list[str]) -> list[dict]:
    """The summaries of these cases, in this order, each with its snippet."""
    if not seqs:
        return []
    rows = dict((seq, (text, summary)) for seq, text, summary in db.execute(
        f"SELECT seq, text, summary FROM shown WHERE seq IN ({','.join('?' * len(seqs))})", seqs))
    items = []
    for seq in seqs:
        text, summary = rows[seq]
        item = loads(summary)
        item["snippet"] = snippet(text, terms)
        items.append(item)
    return items


def _filters(query: CaseQuery, scope: Scope, seq: str) -> tuple[list[str], list]:
    where: list[str] = []
    params: list = []
    for column, value in query.equalities().items():
        where.append(f"cases.{column} = ?")
        params.append(int(value) if isinstance(value, bool) else value)
    if query.excludes_merged():
        where.append("cases.status IS NOT 'merged'")
    if query.region:
        prefix = region_prefix(query.region)
        where.append("cases.region_code >= ? AND cases.region_code < ?")
        params += [prefix, prefix + SUBTREE_END]
    if query.received_from:
        where.append(f"{seq} >= ?")
        params.append(_first_sequence(query.received_from))
    if query.received_to:
        where.append(f"{seq} < ?")
        params.append(_first_sequence(query.received_to))
    if scope.regions is not None:
        prefixes = [region_prefix(r) for r in scope.regions]
        where.append("(" + (" OR ".join("(cases.region_code >= ? AND cases.region_code < ?)" for _ in prefixes)
                            or "0") + ")")
        params += [bound for p in prefixes for bound in (p, p + SUBTREE_END)]
    if scope.units is not None:
        where.append(f"cases.unit_id IN ({','.join('?' * len(scope.units))})" if scope.units else "0")
        params += list(scope.units)
    return where, params


def _connect(path: Path) -> sqlite3.Connection:
    """A generation's connection. Its waits for another process's lock are the document store's
    (``patiently``): short waits inside SQLite, sleeps between them, so an eventlet process keeps
    serving its other green threads meanwhile."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_POLL_SECONDS)
    patiently(lambda: db.execute("PRAGMA journal_mode=WAL"))
    patiently(lambda: db.execute("PRAGMA synchronous=NORMAL"))
    patiently(lambda: db.executescript(TABLES + INDEXES))  # all IF NOT EXISTS: safe to run again
    db.isolation_level = ""  # back to implicit transactions, committed by ``with db``
    return db


def _connect_for_build(path: Path) -> sqlite3.Connection:
    """A generation being built: nobody reads it until it is complete, and a crash leaves a file
    that ``CURRENT`` never names, so it is written without a journal or syncs."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-{BUILD_CACHE_KIB};"
                     + TABLES)
    db.isolation_level = ""
    return db


Rows = tuple[int, list, list, list | None]  # sequence, case row, shown row, terms row (None: no terms)


def prepare_rows(views: list[dict]) -> list[Rows]:
    """The rows of each view, ready to insert (runs in a worker process during a rebuild)."""
    prepared = []
    for view in views:
        doc = indexed_case(view)
        case_row = [doc["id"], doc.get("version") or 0, *_filter_row(doc), _terms_key(doc)]
        terms_row = list(_terms_of(doc)) if doc["status"] != MERGED else None
        prepared.append((doc["seq"], case_row, _shown_row(doc), terms_row))
    return prepared


def _insert_new(db: sqlite3.Connection, prepared: list[Rows], taken: set[int]) -> int:
    """Bulk-insert rows into a generation being built: no id is there yet.

    Rows go in in sequence order: FTS5 and the tables append instead of inserting at random
    places, about three times faster.
    """
    numbered = []
    for seq, *rows in prepared:
        while seq in taken:
            seq += 1  # two ids hashed alike within one millisecond: the later one steps aside
        taken.add(seq)
        numbered.append((seq, *rows))
    numbered.sort(key=lambda row: row[0])
    with db:
        db.executemany(INSERT_CASE, ([seq, *case] for seq, case, _, _ in numbered))
        db.executemany(INSERT_SHOWN, ([seq, *shown] for seq, _, shown, _ in numbered))
        db.executemany(INSERT_TERMS, ([seq, *terms] for seq, _, _, terms in numbered if terms is not None))
    return len(prepared)


INSERT_CASE = (f"INSERT INTO cases (seq, id, version, {', '.join(FILTER_COLUMNS)}, terms_key) "
               f"VALUES (?, ?, ?, {', '.join('?' * len(FILTER_COLUMNS))}, ?)")
INSERT_SHOWN = "INSERT INTO shown (seq, text, summary) VALUES (?, ?, ?)"
INSERT_TERMS = "INSERT INTO terms (rowid, text, address, names, tails) VALUES (?, ?, ?, ?, ?)"
UPDATE_CASE = (f"UPDATE cases SET version = ?, {', '.join(f'{c} = ?' for c in FILTER_COLUMNS)}, terms_key = ? "
               f"WHERE seq = ?")


def _filter_row(doc: dict) -> list:
    values = [doc[c] for c in FILTER_COLUMNS]
    values[FILTER_COLUMNS.index("risk")] = doc["risk"] or 0
    return values


def _shown_row(doc: dict) -> list:
    return [doc["text"], dumps(doc["summary"])]


def _terms_key(doc: dict) -> str:
    """Changes when anything the terms are made from changes; empty when the case has no terms
    (a merged report)."""
    if doc["status"] == MERGED:
        return ""
    source = "\x1f".join((doc["text"], doc["address"], doc["names"], *doc["tails"]))
    return hashlib.blake2b(source.encode(), digest_size=8).hexdigest()


def _begin_writing(db: sqlite3.Connection) -> None:
    """Take the write lock before reading what is stored. sqlite3's implicit transaction would begin
    only at the first write, after ``_write`` has read the stored version outside it, so another
    process could write a newer version in between and be overwritten."""
    patiently(lambda: db.execute("BEGIN IMMEDIATE"))


def _write(db: sqlite3.Connection, doc: dict) -> None:
    """Insert or replace one case, unless the index already holds this or a newer version of it."""
    existing = db.execute("SELECT seq, version, terms_key FROM cases WHERE id = ?", (doc["id"],)).fetchone()
    if existing is not None:
        seq, version, old_key = existing
        if (doc.get("version") or 0) <= version:
            return
        if seq >> SEQUENCE_HASH_BITS == doc["seq"] >> SEQUENCE_HASH_BITS:
            _replace(db, seq, doc, old_key)
            return
        # Its received time arrived after other facts (events out of order): it moves in the order.
        for table, key in (("cases", "seq"), ("shown", "seq"), ("terms", "rowid")):
            db.execute(f"DELETE FROM {table} WHERE {key} = ?", (seq,))
    seq = doc["seq"]
    while db.execute("SELECT 1 FROM cases WHERE seq = ?", (seq,)).fetchone():
        seq += 1  # two ids hashed alike within one millisecond: the later one steps aside
    key = _terms_key(doc)
    db.execute(INSERT_CASE, [seq, doc["id"], doc.get("version") or 0, *_filter_row(doc), key])
    db.execute(INSERT_SHOWN, [seq, *_shown_row(doc)])
    if key:
        db.execute(INSERT_TERMS, [seq, *_terms_of(doc)])


def _replace(db: sqlite3.Connection, seq: int, doc: dict, old_key: str) -> None:
    key = _terms_key(doc)
    db.execute(UPDATE_CASE, [doc.get("version") or 0, *_filter_row(doc), key, seq])
    db.execute("UPDATE shown SET text = ?, summary = ? WHERE seq = ?", [*_shown_row(doc), seq])
    if key == old_key:
        return  # the words did not change, only the filters
    if old_key:
        db.execute("DELETE FROM terms WHERE rowid = ?", (seq,))
    if key:
        db.execute(INSERT_TERMS, [seq, *_terms_of(doc)])
