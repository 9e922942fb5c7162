"""Fits the matcher's weights on labelled report groups and prints them for ``MatchPolicy``:

    python -m services.intake.fit_matcher [tests/data/blind/merge_dev.jsonl]

Every pair of reports within the time window is an example (same group or not); a logistic
regression weighs the FEATURES, and the threshold is the lowest probability at which merges
stay precise (``PRECISION``) on the fitted pairs. Never run it on tests/data/frozen.
"""
from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

from services.intake import matching

DEV = Path(__file__).parents[2] / "tests" / "data" / "blind" / "merge_dev.jsonl"
PRECISION = 0.95


def pairs(signatures: list[matching.Signature], groups: list[str], policy: matching.MatchPolicy):
    """(features, same group) for every pair that no veto rules out."""
    for i, j in itertools.combinations(range(len(signatures)), 2):
        if matching._veto(signatures[i], signatures[j], policy) is None:
            yield matching.features(signatures[i], signatures[j], policy)[0], groups[i] == groups[j]


def fit(signatures: list[matching.Signature], groups: list[str],
        policy: matching.MatchPolicy = matching.MatchPolicy()) -> matching.MatchPolicy:
    from sklearn.linear_model import LogisticRegression

    examples = list(pairs(signatures, groups, policy))
    x, y = [f for f, _ in examples], [same for _, same in examples]
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    fitted = replace(policy, intercept=round(float(model.intercept_[0]), 3),
                     weights=tuple(round(float(w), 3) for w in model.coef_[0]))
    scored = sorted(((matching.probability(f, fitted), same) for f, same in examples), reverse=True)
    threshold, tp, fp = 0.99, 0, 0
    for score, same in scored:
        tp, fp = tp + same, fp + (not same)
        if tp / (tp + fp) >= PRECISION:
            threshold = score
    return replace(fitted, threshold=round(max(threshold, 0.2), 3))


def main(path: Path = DEV) -> None:
    from fengqiao.directory import Directory
    from fengqiao.settings import DEFAULT_DIRECTORY
    from services.intake.dedupe import ReportLine, signatures

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: r.get("reported_at") or "")  # arrival order, as the evaluation reads them
    lines = [ReportLine.parse(i, r) for i, r in enumerate(rows)]
    policy = fit(signatures(lines, Directory.load(DEFAULT_DIRECTORY)), [r["group"] for r in rows])
    print(f"threshold: float = {policy.threshold}\nintercept: float = {policy.intercept}\n"
          f"weights: tuple[float, ...] = {policy.weights}  # {matching.FEATURES}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEV)
