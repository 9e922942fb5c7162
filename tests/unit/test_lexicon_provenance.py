"""No rule or lexicon term may come from the frozen test part: every term of the danger concepts,
the grade-2 rules and the matcher's word lists that occurs in a frozen text must also occur in
the data we were allowed to learn from: the training cases, the development sets and the
development cases' annotations (their ``why``, which several concept names were taken from)."""
import json
import re
from pathlib import Path

from fengqiao import danger, triage
from fengqiao.chinese import simplify
from services.intake import matching

DATA = Path(__file__).parents[1] / "data"
LEARNT_FROM = [triage.TRAINING_DATA, DATA / "blind" / "merge_dev.jsonl", DATA / "dedupe_reports.jsonl"]
FROZEN = [DATA / "frozen" / "triage_test.jsonl", DATA / "frozen" / "merge_test.jsonl"]
CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


def texts(paths: list[Path], field: str = "text") -> str:
    return "\n".join(simplify(json.loads(line)[field]) for path in paths
                     for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def terms() -> set[str]:
    """Literal Chinese runs of every pattern and word list (alternatives split at their bars)."""
    patterns = [*danger.CONCEPTS.values(), danger.GATHERING, danger.MANY, danger.VULNERABLE_PEOPLE,
                danger.CUT_OFF_SUPPLY, triage.SCUFFLE, triage.REPEAT, triage.HIGHER]
    words = [*danger.HARMLESS, *matching.BOILERPLATE]
    return {run for source in [p.pattern for p in patterns] + words for run in CJK_RUN.findall(source)}


def test_no_term_occurs_only_in_the_frozen_test_part():
    learnt = texts(LEARNT_FROM) + texts([DATA / "blind" / "triage_dev.jsonl"], "why")
    frozen = texts(FROZEN)
    only_frozen = sorted(t for t in terms() if t in frozen and t not in learnt)
    assert not only_frozen, f"terms found only in the frozen test part: {only_frozen}"
