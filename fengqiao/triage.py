"""Triage: a category (14 codes) and a risk grade (1–3) for every case, with the reasons.

One character n-gram TF-IDF (1–2 characters, on the text folded to simplified Chinese) feeds
two logistic regressions fitted at first use on our own labelled cases
(``fengqiao/data/triage_cases.jsonl``, rebuilt by ``python -m fengqiao.triage_corpus``):

- category: the most probable of the 14; below ``CATEGORY_FLOOR`` the case goes to the triage
  desk with its top three candidates in the reasons;
- grade 3: the probability that the case is a grade-3 one. Grade 3 is given when the danger
  concepts (``danger.py``) find it or the model's probability reaches ``RISK3_THRESHOLD``, a
  threshold set for recall on cross-validated development cases: over-grading is cheap, a miss
  is the worst failure. Model-only findings quote the n-grams that weighed most.

Grade 2 stays explicit rules: a 3rd+ report, scuffles, large sums, 5+ parties, threats to
petition higher up.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from fengqiao import labels
from fengqiao.chinese import amounts, headcount, simplify
from fengqiao.danger import blank_harmless, findings

TRAINING_DATA = Path(__file__).parent / "data" / "triage_cases.jsonl"
CATEGORIES = tuple(labels.CATEGORIES)
# Set on the development set's cross-validation (tests/unit/test_triage_evaluation.py prints it).
RISK3_THRESHOLD = 0.25
CATEGORY_FLOOR = 0.3

SCUFFLE = re.compile(r"推搡|推了|动手|扭打|厮打|打架|打起来|打了几|扇了|耳光|冲突|围观|撕扯|拉扯")
PLACE = re.compile(r"[\u4e00-\u9fa5]{1,4}?(市|区|县|旗|街道|镇|乡|苏木|社区|嘎查)")
WORDLIKE = re.compile(r"^[\u4e00-\u9fff]{2,}$")
REPEAT = re.compile(r"第\s*([3-9]|[1-9]\d|[三四五六七八九十])\s*[次回]|"
                    r"反映了?\s*([3-9]|[三四五六七八九]|好几)\s*[次回]|([3-9]|[三四五六七八九])次(信访|到访|反映)")
HIGHER = re.compile(r"越级|进京|去北京|到北京|上北京|去省|到省|省里|去市里上访|市里上访|上访")


@dataclass(frozen=True)
class Signals:
    """What intake learnt about the case, beyond its words."""

    channel: str = "hotline_12345"
    report_count: int = 1
    headcount: int | None = None
    max_amount: float | None = None
    previous_petitions: int = 0
    higher_level_threat: bool = False


@dataclass(frozen=True)
class Triage:
    category: str
    risk: int
    reasons: list[str] = field(default_factory=list)
    confidence: float = 0.0
    # Set when the category is uncertain: the top three (category, probability), for the triage desk.
    candidates: list[tuple[str, float]] = field(default_factory=list)


def normalize(text: str) -> str:
    return simplify(text or "")


def model_text(text: str) -> str:
    """What the models read: simplified, harmless idioms (笑死, 杀价 …) blanked so no n-gram of theirs
    counts, and place names cut to their kind (临河区 → 区): where a case happens says nothing of its risk."""
    return _places_cut(blank_harmless(normalize(text)))


def _places_cut(text: str) -> str:
    return PLACE.sub(r"\1", text)


def load_cases(path: Path = TRAINING_DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Models:
    """The shared n-gram vectoriser and the two regressions fitted on it."""

    vectorizer: object
    category: object
    risk3: object
    names: list[str]
    quotable: np.ndarray  # per n-gram: two or more Han characters, worth quoting as evidence

    def evidence(self, row: tuple[np.ndarray, np.ndarray], weights: np.ndarray, count: int = 3) -> list[str]:
        """The quotable n-grams of one TF-IDF row (indices, values) that pushed hardest towards a class."""
        indices, values = row
        contributions = np.where(self.quotable[indices], values * weights[indices], 0.0)
        top = np.argsort(-contributions)[:count]
        return [self.names[indices[i]] for i in top if contributions[i] > 0]


def fit(rows: list[dict]) -> Models:
    """Both models on labelled cases (deterministic; about a second for 1,500 cases)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32)
    matrix = vectorizer.fit_transform([model_text(r["text"]) for r in rows])
    category = LogisticRegression(C=20, max_iter=1000).fit(matrix, [r["category"] for r in rows])
    risk3 = LogisticRegression(C=10, max_iter=1000, class_weight="balanced").fit(
        matrix, [r["risk"] == 3 for r in rows])
    names = vectorizer.get_feature_names_out().tolist()
    return Models(vectorizer, category, risk3, names, np.array([bool(WORDLIKE.match(n)) for n in names]))


@lru_cache(maxsize=1)
def model() -> Models:
    return fit(load_cases())


def category_vectors(texts: list[str], models: Models | None = None) -> np.ndarray:
    """Category probabilities per text, scaled to unit length (their dot product: same kind of matter)."""
    models = models or model()
    proba = models.category.predict_proba(models.vectorizer.transform([model_text(t) for t in texts]))
    return proba / np.linalg.norm(proba, axis=1, keepdims=True)


def _category(models: Models, row, proba: np.ndarray) -> tuple[str, float, list[str], list[tuple[str, float]]]:
    classes = list(models.category.classes_)
    order = np.argsort(-proba)
    best, confidence = classes[order[0]], float(proba[order[0]])
    grams = models.evidence(row, models.category.coef_[order[0]])
    basis = f"，依据『{'』『'.join(grams)}』" if grams else ""
    reasons = [f"类别判断：{labels.CATEGORIES[best]}（模型 {confidence:.2f}{basis}）"]
    if confidence >= CATEGORY_FLOOR:
        return best, round(confidence, 3), reasons, []
    candidates = [(classes[i], round(float(proba[i]), 3)) for i in order[:3]]
    shown = "、".join(f"{labels.CATEGORIES[c]} {p:.2f}" for c, p in candidates)
    return best, round(confidence, 3), [*reasons, f"类别把握不足，转分流台人工确认，候选：{shown}"], candidates


def grade(text: str, signals: Signals = Signals(), risk3: float = 0.0,
          evidence: list[str] = ()) -> tuple[int, list[str]]:
    """Risk grade and its reasons; ``risk3`` is the model's grade-3 probability, ``evidence`` its n-grams."""
    return _grade(blank_harmless(normalize(text)), signals, risk3, evidence)


def _grade(text: str, signals: Signals, risk3: float, evidence: list[str]) -> tuple[int, list[str]]:
    """``grade`` of a text already simplified and with harmless idioms blanked."""
    people = max(signals.headcount or 0, headcount(text) or 0)
    reasons3 = [f.reason() for f in findings(text, people)]
    if risk3 >= RISK3_THRESHOLD:
        reasons3.append(f"模型判断可能危及人身或公共安全（{risk3:.2f}）" +
                        (f"：『{'』『'.join(evidence)}』" if evidence else ""))
    if reasons3:
        return 3, reasons3
    return _grade2(text, signals, people)


def _grade2(text: str, signals: Signals, people: int) -> tuple[int, list[str]]:
    largest = max([signals.max_amount or 0, *(amounts(text) if "万" in text or re.search(r"\d{6}", text) else [])])
    reasons2 = []
    if signals.report_count >= 3:
        reasons2.append(f"同一事项第{signals.report_count}次反映")
    if signals.previous_petitions >= 2:
        reasons2.append(f"重复反映：此前已信访{signals.previous_petitions}次")
    elif m := REPEAT.search(text):
        reasons2.append(f"重复反映：『{m.group(0)}』")
    if m := SCUFFLE.search(text):
        reasons2.append(f"肢体冲突：『{m.group(0)}』")
    if largest > 100_000:
        reasons2.append(f"涉及金额{largest / 10_000:g}万元（超过10万元）")
    if people >= 5:
        reasons2.append(f"涉及人数{people}人")
    if signals.higher_level_threat or (m := HIGHER.search(text)):
        reasons2.append("扬言越级上访" + ("" if signals.higher_level_threat else f"：『{m.group(0)}』"))
    if reasons2:
        return 2, reasons2
    return 1, ["未见升级或危险信号"]


def triage_many(items: list[tuple[str, Signals]], models: Models | None = None) -> list[Triage]:
    """Batched: one vectorisation and one prediction per model for the whole batch."""
    models = models or model()
    texts = [blank_harmless(normalize(text)) for text, _ in items]
    matrix = models.vectorizer.transform([_places_cut(t) for t in texts])  # the rules read the names
    categories = models.category.predict_proba(matrix)
    positive = list(models.risk3.classes_).index(True)
    risks = models.risk3.predict_proba(matrix)[:, positive]
    risk_weights = models.risk3.coef_[0] * (1 if positive else -1)
    results = []
    for i, (text, (_, signals)) in enumerate(zip(texts, items, strict=True)):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        row = (matrix.indices[start:end], matrix.data[start:end])
        category, confidence, reasons, candidates = _category(models, row, categories[i])
        evidence = models.evidence(row, risk_weights) if risks[i] >= RISK3_THRESHOLD else []
        risk, risk_reasons = _grade(text, signals, float(risks[i]), evidence)
        results.append(Triage(category, risk, reasons + risk_reasons, confidence, candidates))
    return results


def triage(text: str, signals: Signals = Signals()) -> Triage:
    return triage_many([(text, signals)])[0]
