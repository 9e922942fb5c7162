"""Triage: a category (14 codes) and a risk grade (1–3) for every case, with the reasons.

Category: a logistic regression over jieba words and character bigrams, trained at start on
our own labelled cases (fengqiao/data/triage_train.jsonl), blended with a keyword lexicon so
that an explicit domain word (草场, 欠薪, 物业费 …) is heard even when the model wavers.

Risk: explicit rules, because a missed grade 3 is the worst failure and must be explainable:
danger phrases (self-harm, threats, weapons, serious injury), a group of ten or more acting
together, escalation signals (3rd+ report, scuffles, large sums, 5+ parties, threats to
petition higher up). Harmless idioms (死胡同, 杀价, 炸鸡店 …) are blanked out first, and the
whole text is read, so danger said in the last clause still counts. Over-grading is cheap;
the rules lean that way.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from fengqiao import labels
from fengqiao.chinese import amounts_in, arabic, headcount_in, simplify

TRAINING_DATA = Path(__file__).parents[2] / "fengqiao" / "data" / "triage_train.jsonl"
CATEGORIES = tuple(labels.CATEGORIES)
DOMAIN_WORDS = ["草场", "嘎查", "苏木", "牧户", "牧民", "包工头", "工头", "讨薪", "欠薪", "物业费", "剐蹭", "追尾",
                "赡养", "抚养费", "彩礼", "低保", "医保", "养老金", "网贷", "高利贷", "宅基地", "网围栏", "业委会",
                "预付卡", "校服", "教辅", "油烟", "扬尘", "偷排", "工伤", "同归于尽", "一死了之", "不想活"]

# Phrases that sound dangerous and are not: blanked before the danger rules read the text.
HARMLESS = ["死胡同", "杀价", "砍价", "炸鸡", "炸串", "炸酱面", "刀削面", "菜刀面", "笑死", "累死", "热死", "冷死",
            "吓死", "烦死", "气死", "饿死", "困死", "急死", "忙死", "打针", "打电话", "打车", "打工", "打扫", "打算",
            "打听", "打折", "打卡", "打印", "打桩", "拼车", "拼单", "拼多多", "砍树", "杀毒", "打疫苗"]

LEXICON: dict[str, tuple[str, ...]] = {
    "marriage_family": ("离婚", "丈夫", "老公", "妻子", "老婆", "婆媳", "赡养", "抚养", "彩礼", "夫妻", "家暴", "前夫",
                        "前妻", "儿媳", "女婿", "分家", "继母", "兄妹", "兄弟姐妹", "遗产", "继承"),
    "neighbor": ("邻居", "楼上", "楼下", "隔壁", "对门", "院墙", "界墙", "漏水", "树枝", "养狗", "狗叫", "鸽子"),
    "property_mgmt": ("物业", "业主", "业委会", "电梯", "维修基金", "开发商", "售楼处", "保洁", "门禁", "单元门",
                      "化粪池", "二次供水", "地下室", "车位"),
    "labor_wage": ("工资", "工钱", "欠薪", "讨薪", "包工头", "工头", "农民工", "劳动合同", "辞退", "工伤", "加班费",
                   "劳务", "离职", "经济补偿"),
    "medical": ("医院", "医生", "手术", "诊所", "卫生院", "患者", "医疗", "输液", "拔牙", "种植牙", "药店", "假药",
                "体检", "误诊", "村医", "分娩", "院长"),
    "traffic": ("交通事故", "撞", "剐蹭", "追尾", "车祸", "肇事", "倒车", "骑手"),
    "land": ("土地", "耕地", "草场", "牧场", "承包地", "宅基地", "征地", "拆迁", "强拆", "流转", "确权", "林地", "林权",
             "地界", "网围栏", "放牧", "河滩地", "休牧"),
    "consumer": ("商家", "退款", "退货", "退换", "预付", "会员卡", "年卡", "定金", "商场", "超市", "网购", "售后",
                 "缺斤短两", "过期", "旅行社", "4S店", "快递", "翻新机", "装修公司", "早教", "培训机构"),
    "finance": ("借款", "借钱", "借给", "欠款", "还钱", "贷款", "网贷", "高利贷", "理财", "集资", "信用卡", "担保",
                "信用社", "股金", "存款", "兑付", "理赔"),
    "campus": ("学校", "老师", "同学", "幼儿园", "学生", "校服", "教辅", "补课", "校车", "学籍", "研学", "食堂",
               "宿舍", "上学"),
    "environment": ("油烟", "噪音", "排放", "污染", "臭", "气味", "扬尘", "粪污", "排污", "偷排", "焚烧", "死鱼",
                    "尾矿", "污水", "废气", "黑烟", "音响", "施工", "废机油"),
    "social_security": ("养老金", "低保", "医保", "社保", "救助", "补贴", "津贴", "残疾", "特困", "廉租房", "优抚",
                        "失业保险", "补奖", "养老保险"),
    "public_safety": ("赌博", "赌钱", "持刀", "威胁", "跟踪", "骚扰", "撬", "偷", "飙车", "可疑", "假烟", "斧头",
                      "砍人", "泼油漆", "聚众", "打架", "扇了", "耳光"),
    "other": ("咨询", "建议", "表扬", "询问", "手续", "流程", "路灯", "公交", "红绿灯", "办理", "在哪里办"),
}

DANGER: list[tuple[str, re.Pattern]] = [
    ("自伤自杀", re.compile(r"不想活|活不下去|活着(也)?没(意思|劲)|一死了之|去死|寻死|轻生|自杀|跳楼|跳下去|从楼上跳|"
                        r"农药|把药都吃|割腕|想不开|遗书|同归于尽|一起死|一起走|结束生命|了结自己|寻短见")),
    ("扬言伤人、报复", re.compile(r"杀了|杀人|砍死|弄死|打死|捅死|要(他|你|她)的?命|见血|拼命|跟(他|她|你)们?拼了|"
                          r"报复|算账|点了|放火|烧了|炸了|炸药")),
    ("携带凶器", re.compile(r"家伙|持刀|拿刀|拿着刀|菜刀|刀子|斧头|棍棒|棍子|扳手|汽油|煤气罐|枪|挥舞")),
    ("暴力致伤", re.compile(r"砍伤|捅伤|打伤|(殴打|家暴|打|揍|拳|砍|捅).{0,15}(骨折|流血|住院|送医|头破|伤)")),
]
COLLECTIVE = re.compile(r"聚集|围堵|堵路|堵住|堵在|堵塞|围住|围着|拉横幅|静坐|坐了|对峙|集体|冲击|摆花圈|围在")
MANY_PEOPLE = re.compile(r"几十|数十|上百|成百|大批|一帮|一群|十几|十余|十多|二十来|1\d几")
SCUFFLE = re.compile(r"推搡|推了|动手|扭打|厮打|打架|打起来|打了几|扇了|耳光|冲突|围观")
# Read after arabic(): 第三次 has become 第3次.
REPEAT = re.compile(r"第\s*([3-9]|[1-9]\d)\s*[次回]|反映了?\s*([3-9]|好几)\s*[次回]|([3-9])次(信访|到访|反映)")
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


def normalize(text: str) -> str:
    return simplify(text or "")


def _blank_harmless(text: str) -> str:
    for phrase in HARMLESS:
        text = text.replace(phrase, "□" * len(phrase))
    return text


@lru_cache(maxsize=1)
def _tokenizer():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    for word in DOMAIN_WORDS:
        jieba.add_word(word)
    return jieba


def _features(text: str) -> str:
    words = [w for w in _tokenizer().lcut(text, HMM=False) if w.strip()]  # dictionary words: faster, as good here
    chars = re.sub(r"\W", "", text)
    bigrams = [chars[i:i + 2] for i in range(len(chars) - 1)]
    return " ".join(words + ["b_" + b for b in bigrams])


@lru_cache(maxsize=1)
def model():
    """The category model, fitted on the shipped training cases (deterministic; < 1 s)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rows = [json.loads(line) for line in TRAINING_DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    pipeline = make_pipeline(
        TfidfVectorizer(analyzer=str.split, sublinear_tf=True, min_df=1),
        LogisticRegression(C=20, max_iter=2000),
    )
    pipeline.fit([_features(normalize(r["text"])) for r in rows], [r["category"] for r in rows])
    return pipeline


def _lexicon_hits(text: str) -> dict[str, list[str]]:
    return {c: [w for w in words if w in text] for c, words in LEXICON.items()}


def categorize_many(texts: list[str]) -> list[tuple[str, float, list[str]]]:
    """(category, confidence, reasons) per text; batched, because the model predicts in bulk."""
    texts = [normalize(t) for t in texts]
    pipeline = model()
    classes = list(pipeline.classes_)
    probabilities = pipeline.predict_proba([_features(t) for t in texts])
    results = []
    for text, proba in zip(texts, probabilities, strict=True):
        hits = _lexicon_hits(text)
        total = sum(len(h) for h in hits.values()) or 1
        # Blend: the model reads context, the lexicon guarantees explicit domain words are heard.
        scores = {c: 0.6 * proba[classes.index(c)] + 0.4 * len(hits[c]) / total for c in CATEGORIES}
        best = max(scores, key=scores.get)
        reasons = [f"类别判断：{labels.CATEGORIES[best]}（模型 {proba[classes.index(best)]:.2f}）"]
        if hits[best]:
            reasons.append(f"关键词：{'、'.join(hits[best][:5])}")
        results.append((best, round(scores[best], 3), reasons))
    return results


def grade(text: str, signals: Signals = Signals()) -> tuple[int, list[str]]:
    """Risk grade and its reasons."""
    text = _blank_harmless(arabic(normalize(text)))
    reasons3 = [f"{label}：『{m.group(0)}』" for label, pattern in DANGER if (m := pattern.search(text))]
    people = max(signals.headcount or 0, headcount_in(text) or 0)
    largest = max([signals.max_amount or 0, *amounts_in(text)])
    many = people >= 10 or bool(MANY_PEOPLE.search(text))
    collective = COLLECTIVE.search(text)
    if many and collective:
        reasons3.append(f"群体行为：约{people or '十余'}人，『{collective.group(0)}』")
    if reasons3:
        return 3, reasons3
    reasons2 = []
    if signals.report_count >= 3:
        reasons2.append(f"同一事项第{signals.report_count}次反映")
    if signals.previous_petitions >= 2 or (m := REPEAT.search(text)):
        reasons2.append("重复反映：" + (f"『{m.group(0)}』" if not signals.previous_petitions >= 2 else
                                      f"此前已信访{signals.previous_petitions}次"))
    if m := SCUFFLE.search(text):
        reasons2.append(f"肢体冲突：『{m.group(0)}』")
    if largest > 100_000:
        reasons2.append(f"涉及金额{largest / 10_000:g}万元（超过10万元）")
    if people >= 5 or many:
        reasons2.append(f"涉及人数{people or '较多'}人")
    if signals.higher_level_threat or (m := HIGHER.search(text)):
        reasons2.append("扬言越级上访" + ("" if signals.higher_level_threat else f"：『{m.group(0)}』"))
    if reasons2:
        return 2, reasons2
    return 1, ["未见升级或危险信号"]


def triage_many(items: list[tuple[str, Signals]]) -> list[Triage]:
    categories = categorize_many([text for text, _ in items])
    results = []
    for (text, signals), (category, confidence, reasons) in zip(items, categories, strict=True):
        risk, risk_reasons = grade(text, signals)
        results.append(Triage(category, risk, reasons + risk_reasons, confidence))
    return results


def triage(text: str, signals: Signals = Signals()) -> Triage:
    return triage_many([(text, signals)])[0]
