"""Chinese text helpers shared by the services: folding to simplified, arabic numerals."""
from __future__ import annotations

import re
import warnings
from functools import lru_cache

import cn2an
import opencc


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def simplify(text: str) -> str:
    """Traditional (and mixed) Chinese folded to simplified, for analysis only."""
    return _t2s().convert(text) if text else text


CHINESE_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟]")


def arabic(text: str) -> str:
    """Chinese numerals as digits (三万五千元 → 35000元), for extraction only."""
    if not CHINESE_NUMERAL.search(text):
        return text  # cn2an is slow, and most texts have nothing for it to do
    try:
        with warnings.catch_warnings():  # it warns on every range it cannot read (三四十, 五六万)
            warnings.simplefilter("ignore")
            return cn2an.transform(text, "cn2an")
    except (ValueError, KeyError):  # cn2an refuses some odd mixes; keep the digits we have
        return text


# After cn2an has turned Chinese numerals into digits: 3.5万元, 35000元, 2千块, 10万.
AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:多|余)?\s*(万|千)?\s*(?:元|块钱|块|万元)"
                    r"|(\d+(?:\.\d+)?)\s*(?:多|余)?万(?![\d人户名个])")
# cn2an writes 十二万 as 120000 with no unit after it: a sum when a money verb precedes it.
BARE_SUM = re.compile(r"(?:赔|借|欠|要|付|花|骗|损失|垫付|拖欠)了?\s*(\d{4,}(?:\.\d+)?)(?![\d.])")
# People counted either way: 二十多名工人, 10余户牧民, 十几个人, 三四十人, 上百人, 30余人. Read on
# the text as written (not after ``arabic``), so the Chinese forms cn2an refuses still count.
HEADCOUNT = re.compile(r"(?<![\d.])(\d+|[一二两三四五六七八九十百千几数]+)\s*(?:余|多|来|几)?\s*"
                       r"(?:名|位|户|个人|口人|号人|人|个(?=村民|牧民|工人|业主|家长|家属|学生|老人|储户|群众|居民|员工))")
CN_DIGIT = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "几": 1, "数": 1}
CN_UNIT = {"十": 10, "百": 100, "千": 1000}
MULTIPLIER = {"万": 10_000, "千": 1_000, None: 1}


def amounts(text: str) -> list[float]:
    """Sums of money in yuan: 欠薪三万五千元, 借款2.5万, 5000块."""
    return amounts_in(arabic(text))


def amounts_in(digits: str) -> list[float]:
    """``amounts`` of a text whose numerals ``arabic`` has already converted."""
    values = []
    for m in AMOUNT.finditer(digits):
        if m.group(1):
            values.append(float(m.group(1)) * MULTIPLIER[m.group(2)])
        else:
            values.append(float(m.group(3)) * 10_000)
    values += [float(m.group(1)) for m in BARE_SUM.finditer(digits)]
    return [round(v, 2) for v in dict.fromkeys(values)]


def small_number(numeral: str) -> int:
    """A count in Chinese numerals, read as its lower bound: 十几 → 11, 三四十 → 30, 百 → 100."""
    if numeral.isdigit():
        return int(numeral)
    total = current = 0
    previous_digit = False
    for char in numeral:
        if char in CN_UNIT:
            total += (current or 1) * CN_UNIT[char]
            current, previous_digit = 0, False
        elif not previous_digit:  # 三四十: a range; its first digit is the lower bound
            current, previous_digit = CN_DIGIT[char], True
    return total + current


def headcount(text: str) -> int | None:
    """The largest number of people a report mentions (二十多名工人, 10余户牧民, 十几个人)."""
    counts = [small_number(n) for n in HEADCOUNT.findall(text)]
    return max(counts) if counts else None
