"""Pairwise precision and recall of the matcher on the labelled report groups.

tests/data/dedupe_reports.jsonl holds 45 incident groups (24 with duplicates across channels,
reworded, partly in traditional characters or with masked phones) and look-alikes: the same
building but another flat, the same employer at another site, the same caller a year apart,
the same village with another matter. The matcher's weights were tuned on this set.
"""
import itertools
import json
import subprocess
import sys
from pathlib import Path

from fengqiao.directory import Directory
from fengqiao.settings import DEFAULT_DIRECTORY
from services.intake.dedupe import ReportLine, cluster_lines

DATA = Path(__file__).parents[1] / "data" / "dedupe_reports.jsonl"


def rows():
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def pairwise(groups, clusters):
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(groups)), 2):
        same, predicted = groups[i] == groups[j], clusters[i] == clusters[j]
        tp += same and predicted
        fp += predicted and not same
        fn += same and not predicted
    return tp / (tp + fp), tp / (tp + fn), tp, fp, fn


def test_matcher_precision_and_recall_on_the_labelled_groups():
    data = rows()
    assert len({r["group"] for r in data}) >= 40
    clusters = cluster_lines([ReportLine.parse(i, r) for i, r in enumerate(data)], Directory.load(DEFAULT_DIRECTORY))
    precision, recall, tp, fp, fn = pairwise([r["group"] for r in data], clusters)
    print(f"\ndedupe on {len(data)} reports in {len({r['group'] for r in data})} groups: "
          f"pairwise precision {precision:.3f}, recall {recall:.3f} (tp={tp} fp={fp} fn={fn})")
    assert precision >= 0.95 and recall >= 0.90


def test_the_cli_clusters_stdin_the_same_way():
    data = rows()[:10]
    stdin = "\n".join(json.dumps({k: v for k, v in r.items() if k != "group"}, ensure_ascii=False) for r in data)
    done = subprocess.run([sys.executable, "-m", "fengqiao.cli", "dedupe"], input=stdin, capture_output=True,
                          text=True, check=True)
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["index"] for o in out] == list(range(10))
    groups = [r["group"] for r in data]
    assert pairwise(groups, [o["cluster"] for o in out])[:2] == (1.0, 1.0)


def test_the_cli_names_the_bad_line():
    stdin = '{"text": "漏水"}\n{"channel": "x"}\n'
    done = subprocess.run([sys.executable, "-m", "fengqiao.cli", "dedupe"], input=stdin, capture_output=True, text=True)
    assert done.returncode == 1
    assert "line 2: text is missing or blank" in done.stderr
