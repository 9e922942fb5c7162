"""Rebuilds the triage model's training cases, ``fengqiao/data/triage_cases.jsonl``:

    python -m fengqiao.triage_corpus

It joins the first hand-written cases (``fengqiao/data/triage_train.jsonl``), the older
evaluation set they were tuned on (``tests/data/triage_eval.jsonl``), the blind development
set (``tests/data/blind/triage_dev.jsonl``) and more training cases written blind
(``fengqiao/data/triage_extra.jsonl``: 1,560 cases by four helper sessions that read only
DOMAIN.md, the seed articles and a brief on voices and label borders, never this repository; the
brief and its second round, which asked for more ``public_safety`` and ``other``, are
``fengqiao/data/triage_extra_brief.md``). Nothing from ``tests/data/frozen`` goes in. The file
ships with the package so that a service fits the same model wherever it runs.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).parents[1]
SOURCES = {
    "seed": ROOT / "fengqiao" / "data" / "triage_train.jsonl",
    "old_eval": ROOT / "tests" / "data" / "triage_eval.jsonl",
    "dev": ROOT / "tests" / "data" / "blind" / "triage_dev.jsonl",
    "extra": ROOT / "fengqiao" / "data" / "triage_extra.jsonl",
}
TARGET = ROOT / "fengqiao" / "data" / "triage_cases.jsonl"
FIELDS = ("id", "channel", "text", "category", "risk")


def rows() -> list[dict]:
    out = []
    for source, path in SOURCES.items():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append({**{f: row[f] for f in FIELDS}, "source": source})
    return out


def render() -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows())


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"{TARGET}: {len(rows())} cases")
