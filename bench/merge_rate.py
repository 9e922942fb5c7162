"""Merge throughput per core: reports clustered per CPU second by `matching.cluster` (candidates
from its inverted index), against a baseline measured in the same run: the same greedy merge
comparing each report with every earlier one. The reports are the development groups repeated
with their times shifted two months apart per copy, so copies never merge and the index has
hotline volume to search. Signatures (text analysis, category model) are timed apart.

    .venv/bin/python -m bench.merge_rate [COPIES]
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from fengqiao.directory import Directory
from fengqiao.settings import DEFAULT_DIRECTORY
from services.intake import matching
from services.intake.dedupe import ReportLine, signatures

DEV = Path(__file__).parents[1] / "tests" / "data" / "blind" / "merge_dev.jsonl"


def reports(copies: int) -> list[matching.Signature]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: r["reported_at"] or "")
    base = signatures([ReportLine.parse(i, r) for i, r in enumerate(rows)], Directory.load(DEFAULT_DIRECTORY))
    return [replace(s, reported_at=s.reported_at + timedelta(days=60 * k) if s.reported_at else None)
            for k in range(copies) for s in base]


def all_earlier(sigs: list[matching.Signature]) -> list[int]:
    clusters: list[int] = []
    for i, sig in enumerate(sigs):
        best, best_score = None, -1.0
        for j in range(i):
            match = matching.compare(sigs[j], sig)
            if match.same and match.score > best_score:
                best, best_score = j, match.score
        clusters.append(clusters[best] if best is not None else i)
    return clusters


def timed(label: str, work, count: int) -> float:
    started = time.process_time()
    work()
    per_core = count / (time.process_time() - started)
    print(f"{label:44s} {count:6d} reports = {per_core:8.0f} reports/s per core")
    return per_core


def main(copies: int = 6) -> None:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    directory = Directory.load(DEFAULT_DIRECTORY)
    signatures([ReportLine.parse(0, rows[0])], directory)  # load the models before timing
    timed("signatures (places, text, category model)",
          lambda: signatures([ReportLine.parse(i, r) for i, r in enumerate(rows)], directory), len(rows))
    sigs = reports(copies)
    baseline = timed("baseline: compare with every earlier report", lambda: all_earlier(sigs), len(sigs))
    indexed = timed("cluster, candidates from the index", lambda: matching.cluster(sigs), len(sigs))
    print(f"ratio indexed / baseline: {indexed / baseline:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
