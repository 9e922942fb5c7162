"""Triage throughput per core: cases per CPU second through `triage_many` (what `fengqiao triage`
and the service use), against a baseline measured in the same run: the same cases one call at a
time. CPU time (not wall time) is divided by, so a shared machine does not flatter or spoil it.

    .venv/bin/python -m bench.triage_rate [N]
"""
from __future__ import annotations

import random
import sys
import time

from fengqiao.triage import Signals, load_cases, triage, triage_many


def cases(n: int) -> list[tuple[str, Signals]]:
    rows = load_cases()
    rng = random.Random(7)
    prefixes = ["", "市民来电：", "據反映，", "网格员补充：", "经核实，"]
    return [(rng.choice(prefixes) + rng.choice(rows)["text"], Signals(channel=rng.choice(rows)["channel"]))
            for _ in range(n)]


def rate(label: str, work, count: int) -> float:
    started, wall = time.process_time(), time.perf_counter()
    work()
    cpu, wall = time.process_time() - started, time.perf_counter() - wall
    per_core = count / cpu
    print(f"{label:30s} {count:7d} cases in {cpu:6.2f} s CPU ({wall:6.2f} s wall) = {per_core:8.0f} cases/s per core")
    return per_core


def main(n: int = 20_000) -> None:
    triage_many(cases(10))  # fit the models before timing
    batch = cases(n)
    baseline_n = min(n, 2_000)
    baseline = rate("baseline: one call per case", lambda: [triage(t, s) for t, s in batch[:baseline_n]], baseline_n)
    batched = rate("triage_many, batches of 1000",
                   lambda: [triage_many(batch[i:i + 1000]) for i in range(0, n, 1000)], n)
    print(f"ratio batched / baseline: {batched / baseline:.1f}x (target: >= 5000 cases/s per core batched)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
