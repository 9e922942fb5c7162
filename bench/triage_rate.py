"""Triage throughput: cases per second through `triage_many` (what `fengqiao triage` and the
service use), against a baseline measured in the same run: the same cases one call at a time.

    .venv/bin/python -m bench.triage_rate [N]
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from services.routing.triage import TRAINING_DATA, Signals, triage, triage_many

HELD_OUT = Path(__file__).parents[1] / "tests" / "data" / "triage_eval.jsonl"


def cases(n: int) -> list[tuple[str, Signals]]:
    rows = [json.loads(line) for path in (TRAINING_DATA, HELD_OUT)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(7)
    prefixes = ["", "市民来电：", "據反映，", "网格员补充：", "经核实，"]
    return [(rng.choice(prefixes) + rng.choice(rows)["text"], Signals(channel=rng.choice(rows)["channel"]))
            for _ in range(n)]


def rate(label: str, work, count: int) -> float:
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    per_second = count / elapsed
    print(f"{label:28s} {count:7d} cases in {elapsed:6.2f} s = {per_second:8.0f} cases/s")
    return per_second


def main(n: int = 20_000) -> None:
    triage_many(cases(10))  # fit the model and load the dictionaries before timing
    batch = cases(n)
    baseline_n = min(n, 2_000)
    baseline = rate("baseline: one call per case", lambda: [triage(t, s) for t, s in batch[:baseline_n]], baseline_n)
    batched = rate("triage_many, batches of 1000",
                   lambda: [triage_many(batch[i:i + 1000]) for i in range(0, n, 1000)], n)
    print(f"ratio batched / baseline: {batched / baseline:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
