"""How Chinese text is cut into search terms, the same way for every search backend.

Like Elasticsearch's built-in ``cjk`` analyzer: a run of Han characters becomes overlapping
bigrams (小区漏水 → 小区 区漏 漏水; a lone character stays a unigram), other runs of letters and
digits become lower-cased words. Traditional characters are folded to simplified first, so 漏水
finds 漏水 and 漏水's traditional spelling alike. A query term matches where its tokens occur
next to each other, in order: a phrase of bigrams.

Why not jieba: word segmentation misses terms it cuts differently (欠薪 inside 拖欠薪资), and
Elasticsearch's ``cjk`` analyzer, which needs no plugin, works on bigrams too; both backends must
find the same cases.
"""
from __future__ import annotations

import html
import re

from fengqiao.chinese import simplify

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
RUN = re.compile(f"[{HAN}]+|[0-9a-z]+")
HAN_RUN = re.compile(f"[{HAN}]")
MAX_TERMS = 8  # query terms beyond this add little and cost a join each
HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE = "<em>", "</em>"
SNIPPET_CHARS = 80


def fold(text: str | None) -> str:
    """Simplified and lower-cased: the form both backends index and query."""
    return simplify(text).lower() if text else ""


def tokens(text: str | None) -> list[str]:
    """The terms of a text, in order (bigrams for Han runs, words otherwise)."""
    found: list[str] = []
    for run in RUN.findall(fold(text)):
        if HAN_RUN.match(run) and len(run) > 1:
            found.extend(map(str.__add__, run, run[1:]))  # the overlapping pairs
        else:
            found.append(run)
    return found


def query_terms(q: str | None) -> list[str]:
    """The terms of a query: its whitespace-separated parts, folded; each must match as a phrase."""
    parts = [fold(part) for part in (q or "").split()]
    return list(dict.fromkeys(p for p in parts if tokens(p)))[:MAX_TERMS]


def is_tail(term: str) -> bool:
    """A four-digit term may be the last four digits of a phone or ID number."""
    return len(term) == 4 and term.isdigit()


def snippet(text: str | None, terms: list[str], width: int = SNIPPET_CHARS) -> str | None:
    """A window of the text around the first term found, with every term found marked <em>…</em>.
    The text is HTML-escaped before the marks go in, so the marks are the only markup.

    Matching runs on the folded text; OpenCC folds character for character in all but a few
    phrases, so positions carry over to the original text when the lengths agree.
    """
    if not text:
        return None
    folded = fold(text)
    source = text if len(folded) == len(text) else folded
    spans = _spans(folded, terms)
    start = max(0, spans[0][0] - width // 4) if spans else 0
    end = min(len(source), start + width)
    out, cursor = [], start
    for begin, finish in spans:
        if begin < cursor or finish > end:
            continue
        out += [html.escape(source[cursor:begin]), HIGHLIGHT_OPEN, html.escape(source[begin:finish]),
                HIGHLIGHT_CLOSE]
        cursor = finish
    out.append(html.escape(source[cursor:end]))
    return ("…" if start else "") + "".join(out) + ("…" if end < len(source) else "")


def _spans(folded: str, terms: list[str]) -> list[tuple[int, int]]:
    spans = []
    for term in terms:
        start = folded.find(term)
        while start >= 0:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + len(term))
    return sorted(spans)
