"""Search at a million cases: index build rate and query latency on the embedded backend
(SQLite FTS5), against a baseline measured in the same run on the same data: the same queries
answered by a plain ``LIKE '%…%'`` scan of an SQLite table with the same rows and indexes.

    .venv/bin/python -m bench.search_1m [N] [--dir DIR]

Cases are generated from the triage training and evaluation texts (310 real-shaped complaints),
varied with openings, closings, a contact phone in three of ten, people and places from the
shipped directory, spread over two years of received times and every region, channel, category
and status. Phrases are cut from the complaints. A last row shows a known worst case apart:
a phrase whose every bigram is in a third of all cases but which itself matches almost none
(联系电话 followed by a digit: the digits are masked in the index), so FTS5 must check word
positions in all of them.
"""
from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from fengqiao.clock import CHINA_TZ, isoformat
from fengqiao.directory import Directory
from fengqiao.search import CaseQuery, Scope, indexed_case, region_prefix
from fengqiao.search.sqlite import SqliteIndex
from fengqiao.settings import DEFAULT_DIRECTORY
from fengqiao.triage import TRAINING_DATA

HELD_OUT = Path(__file__).parents[1] / "tests" / "data" / "triage_eval.jsonl"
OPENINGS = ["", "来电人反映：", "市民来电称，", "據群眾反映，", "网格员上报：", "来访人称，", "经核实，"]
CLOSINGS = ["", "请求尽快处理。", "要求相关部门介入。", "群众情绪激动。", "已多次反映未果。", "希望给予答复。"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
STATUSES = ["assigned"] * 4 + ["mediating", "agreed", "resolved", "resolved", "closed", "closed", "closed",
                               "reopened"]
CHANNELS = ["hotline_12345"] * 5 + ["police_110", "police_110", "grid", "grid", "petition", "walk_in", "court"]
TWO_CHARS = ["漏水", "欠薪", "噪音", "物业", "工资", "彩礼", "停车", "宅基", "装修", "拆迁", "赡养", "医疗",
             "占道", "押金"]
START = datetime(2025, 1, 1, tzinfo=CHINA_TZ)
SAMPLES = 200  # queries of each kind on the index
BASELINE_SAMPLES = 10  # the LIKE scan takes seconds a query at this size


def _rows() -> list[dict]:
    return [json.loads(line) for path in (TRAINING_DATA, HELD_OUT)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def generate(n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    rows = _rows()
    directory = Directory.load(DEFAULT_DIRECTORY)
    places = [r for r in directory.regions.values() if r.level in ("county", "township", "village", "grid")]
    units = list(directory.units.values())
    span = int(timedelta(days=730).total_seconds())
    views = []
    for i in range(n):
        row, place, unit = rng.choice(rows), rng.choice(places), rng.choice(units)
        received = START + timedelta(seconds=rng.randrange(span))
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        contact = f"联系电话{phone}。" if rng.random() < 0.3 else ""
        text = f"{rng.choice(OPENINGS)}{row['text']}{rng.choice(CLOSINGS)}{contact}"
        views.append({
            "id": f"case-{i:07d}", "number": f"FQ-{received:%Y%m%d}-{i:06d}", "text": text,
            "address": f"{place.name}{rng.randrange(1, 99)}号", "region_code": place.code,
            "reporter": {"name": rng.choice(SURNAMES) + "某", "phone": phone}, "phones": [phone],
            "channel": rng.choice(CHANNELS), "category": row["category"], "risk": row["risk"],
            "status": rng.choice(STATUSES), "received_at": isoformat(received),
            "assignment": {"level": unit.level, "unit_id": unit.id, "unit_name": unit.name,
                           "due_at": isoformat(received + timedelta(days=rng.choice([7, 15, 30])))},
            "overdue": rng.random() < 0.05, "monitoring": {"active": rng.random() < 0.02}, "version": 3,
        })
    return views


def queries(views: list[dict], rng: random.Random) -> dict[str, list[CaseQuery]]:
    counties = sorted({v["region_code"][:6] for v in views})
    complaints = [row["text"] for row in _rows()]

    def phrase() -> str:
        """Four to six characters of what a caller said (not the contact line: numbers are found
        by their last four digits, not by phrases)."""
        text = rng.choice(complaints)
        start = rng.randrange(0, max(1, len(text) - 6))
        return "".join(ch for ch in text[start:start + rng.choice([4, 5, 6])] if ch.isalnum()) or "漏水"

    def window() -> tuple[str, str]:
        begin = START + timedelta(days=rng.randrange(0, 640))
        return isoformat(begin), isoformat(begin + timedelta(days=rng.choice([30, 90])))

    def filters() -> CaseQuery:
        view = rng.choice(views)
        choice = rng.randrange(4)
        if choice == 0:
            return CaseQuery(region=view["region_code"][:9], status=view["status"])
        if choice == 1:
            return CaseQuery(category=view["category"], risk=view["risk"])
        if choice == 2:
            return CaseQuery(unit_id=view["assignment"]["unit_id"], overdue=True)
        return CaseQuery(region=rng.choice(counties), channel=view["channel"], status="assigned")

    def combined() -> CaseQuery:
        begin, end = window()
        return CaseQuery(q=phrase(), region=rng.choice(counties), received_from=begin, received_to=end)

    return {
        "two characters": [CaseQuery(q=rng.choice(TWO_CHARS)) for _ in range(SAMPLES)],
        "phrase": [CaseQuery(q=phrase()) for _ in range(SAMPLES)],
        "filters only": [filters() for _ in range(SAMPLES)],
        "phrase+region+dates": [combined() for _ in range(SAMPLES)],
    }


# --- the baseline: the same rows in a plain table, searched with LIKE ---------------------------

def build_baseline(path: Path, views: list[dict]) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript("""
        PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
        CREATE TABLE plain (id TEXT PRIMARY KEY, text TEXT, address TEXT, names TEXT, region_code TEXT,
            level TEXT, unit_id TEXT, category TEXT, risk INTEGER, status TEXT, channel TEXT, received_at TEXT,
            overdue INTEGER, monitoring INTEGER, summary TEXT);""")
    with db:
        db.executemany("INSERT INTO plain VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            (d["id"], d["text"], d["address"], d["names"], d["region_code"], d["level"], d["unit_id"],
             d["category"], d["risk"], d["status"], d["channel"], d["received_at"], int(d["overdue"]),
             int(d["monitoring"]), json.dumps(d["summary"], ensure_ascii=False))
            for d in map(indexed_case, views)))
    db.executescript("CREATE INDEX ix_received ON plain(received_at); CREATE INDEX ix_region ON plain(region_code);"
                     "CREATE INDEX ix_unit ON plain(unit_id); ANALYZE;")
    return db


def like_search(db: sqlite3.Connection, query: CaseQuery) -> int:
    where, params = ["status IS NOT 'merged'"], []
    for word in (query.q or "").split():
        where.append("(text LIKE ? OR address LIKE ? OR names LIKE ?)")
        params += [f"%{word}%"] * 3
    for field, value in query.equalities().items():
        where.append(f"{field} = ?")
        params.append(int(value) if isinstance(value, bool) else value)
    if query.region:
        where.append("region_code >= ? AND region_code < ?")
        params += [region_prefix(query.region), region_prefix(query.region) + "\uffff"]
    if query.received_from:
        where.append("received_at >= ? AND received_at < ?")
        params += [query.received_from, query.received_to]
    sql = " AND ".join(where)
    db.execute(f"SELECT summary FROM plain WHERE {sql} ORDER BY received_at DESC LIMIT 50", params).fetchall()
    return db.execute(f"SELECT count(*) FROM (SELECT 1 FROM plain WHERE {sql} LIMIT 10001)", params).fetchone()[0]


def latencies(run, items) -> list[float]:
    taken = []
    for item in items:
        started = time.perf_counter()
        run(item)
        taken.append((time.perf_counter() - started) * 1000)
    return taken


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="fq-bench-"))
    started = time.perf_counter()
    views = generate(args.n)
    print(f"generated {args.n:,} cases in {time.perf_counter() - started:.1f} s (not timed below)")

    index = SqliteIndex(workdir / "search")
    started = time.perf_counter()
    index.rebuild(lambda: views, len(views))
    build = time.perf_counter() - started
    print(f"index build: {args.n:,} cases in {build:.1f} s = {args.n / build:,.0f} cases/s "
          f"(aim: above 5,000/s)")

    mix = queries(views, random.Random(5))
    scope = Scope()
    for kind_queries in mix.values():  # warm the page cache, as a running service's would be
        for q in kind_queries[:5]:
            index.search(q, scope)
    every = []
    print(f"\n{'query kind':22s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'mean hits':>10s}")
    results = {}
    for kind, kind_queries in mix.items():
        totals = []
        taken = latencies(lambda q, totals=totals: totals.append(index.search(q, scope).total), kind_queries)
        every += taken
        results[kind] = taken
        print(f"{kind:22s} {pct(taken, 50):8.1f} {pct(taken, 95):8.1f} {pct(taken, 99):8.1f} "
              f"{statistics.mean(totals):10.0f}")
    print(f"{'all':22s} {pct(every, 50):8.1f} {pct(every, 95):8.1f} {pct(every, 99):8.1f}   (aim: p95 under 50 ms)")

    worst = [CaseQuery(q=f"联系电话{d}") for d in "1234567890" * 2]
    taken = latencies(lambda q: index.search(q, scope), worst)
    print(f"{'worst: 联系电话+digit':22s} {pct(taken, 50):8.1f} {pct(taken, 95):8.1f} {pct(taken, 99):8.1f}"
          "   (not in the mix: see the docstring)")

    some = random.Random(9).sample(views, 50)
    similar = latencies(lambda v: index.similar(v["id"], scope), some)
    print(f"{'similar cases':22s} {pct(similar, 50):8.1f} {pct(similar, 95):8.1f} {pct(similar, 99):8.1f}")

    print(f"\nbaseline: the same queries as LIKE '%…%' scans ({BASELINE_SAMPLES} of each kind)")
    baseline_db = build_baseline(workdir / "baseline.sqlite3", views)
    for kind, kind_queries in mix.items():
        fts_subset = results[kind][:BASELINE_SAMPLES]
        like = latencies(lambda q: like_search(baseline_db, q), kind_queries[:BASELINE_SAMPLES])
        print(f"{kind:22s} LIKE p50 {pct(like, 50):9.1f} ms   FTS5 p50 {pct(fts_subset, 50):6.1f} ms   "
              f"ratio LIKE/FTS5 {statistics.median(like) / statistics.median(fts_subset):7.1f}x")
    index.close()
    baseline_db.close()


if __name__ == "__main__":
    main()
