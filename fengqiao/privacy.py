"""Personal data: finding it, and masking it wherever it appears (the one masking module).

For a caller without the ``pii.read`` permission every output is masked: people's names
(张三丰 → 张**), phones (139****0001), ID numbers (150102********1234) and door-level addresses
(3号楼2单元501 → 3号楼*单元***), in structured fields and inside free text alike (case text,
timeline, notes, facts, obligations, the agreement PDF, import errors, export cells, Open311,
snippets). Names in free text are found two ways: every name the record itself holds (reporter,
parties, attendees, obligations' parties) wherever it recurs, and the person names jieba's
part-of-speech tagger recognises (``nr``) that start with a Chinese surname. Organisations are
not people: their names stay. Staff acting in their role (``by``, mediators, leads) stay named.
The unmasked originals stay in the owning service's store.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Mobile numbers, optionally written with +86 and separators; landlines with an area code.
SEPARATOR = r"[-.\s—–]?"
MOBILE = re.compile(rf"(?<!\d)(?:\+?86{SEPARATOR})?(1[3-9]\d){SEPARATOR}(\d{{4}}){SEPARATOR}(\d{{4}})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{7,8})(?!\d)")
ID_NUMBER = re.compile(r"(?<![\dXx])(\d{17}[\dXx]|\d{15})(?![\dXx])")
# Written in groups, as on the card: 150102 19900101 123X.
ID_SPACED = re.compile(r"(?<!\d)(\d{6})\s(\d{8})\s(\d{3}[\dXx])(?![\dXx])")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
MASKED_PHONE = re.compile(r"^(?:1[3-9]\d\*{4}\d{4}|0\d{2,3}-\*{2,5}\d{3,4})$")

COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
                     "司空", "夏侯", "轩辕", "令狐", "端木", "南宫", "西门", "独孤", "呼延", "赫连", "澹台", "万俟")
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛"
    "邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝"
    "路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿"
    "桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗"
    "燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬"
    "来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干"
    "但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由")
ALL_SURNAMES = SURNAMES | frozenset(COMPOUND_SURNAMES)
PLACE_SUFFIX = re.compile("[东西南北中]?(?:路|街|道|巷|区|市|县|旗|镇|乡|村|屯|社区|嘎查|苏木|"
                          "小区|花园|大厦|广场|桥|河|湖|山|公园)")
# A surname followed by a title or 某 is how an operator already writes a person anonymously.
ANONYMOUS = re.compile("(?:某|女士|先生|师傅|大爷|大妈|大娘|大姐|大哥|阿姨|叔|婶|奶奶|爷爷|"
                       "老师|医生|同学|经理|老板|律师|书记|主任)")
NOT_NAME_WORDS = frozenset({"申请人", "被申请人", "当事人", "来电人", "报警人", "信访人", "来访人", "网格员", "调解员",
                            "业主", "老人", "孩子", "村民", "居民", "市民", "牧民", "工人", "包工头"})

# Door-level address parts: unit (单元), flat (室/户/房), house number on a street or in a village group.
UNIT = re.compile(r"(\d+|[一二三四五六七八九十]+)\s*单元")
FLAT_AFTER_UNIT = re.compile(r"((?:单元|号楼|栋|幢|座)[\s\-—]*)(\d{1,2}层)?\s*(\d{2,5})(室|号房|号|户)?")
FLAT_NUMBER = re.compile(r"(?<![\d号])(\d{3,5})(?=\s*(?:室|号房|住户|户|的住户|业主|房间))")
FLAT_NEAR = re.compile(r"((?:楼上|楼下|隔壁|对门|对面|住在|住)\s*)(\d{3,5})(?![\d万元块天年月日人户号楼栋]|\.\d)")
# Building-unit-flat, as many addresses are written: 12-3-501.
DOOR_TRIPLE = re.compile(r"(?<![\d\-])(\d{1,3})-(\d{1,2})-(\d{3,4})(?![\d\-])")
HOUSE_NUMBER = re.compile(r"((?:[路街巷道弄里]|大街|胡同|[组队社])\s*)(\d{1,5})(?=\s*号(?![楼院]))")

PII_FIELDS = ("phone", "id_number")
# Fields that hold codes, times, ids or the names of units and staff, never a citizen's data.
# Fields that hold codes, times or ids, or name units and staff acting in their role: never a
# citizen's data. Everything else is treated as text that may hold some.
STRUCTURAL = frozenset({
    "id", "number", "type", "status", "state", "channel", "category", "risk", "level", "kind", "role", "grade",
    "mode", "method", "satisfaction", "origin", "disposition", "region_code", "region_source", "unit_name",
    "title", "source", "service_code", "deadline", "by", "lead", "court", "reference", "committee",
    "mediators", "support", "transferred_to", "created_by", "roles", "permission", "route", "path", "actor_name",
    "actor_login", "actor_kind", "actor_id",
})
STAFF_OR_UNIT = ("mediator_id", "unit_id", "committee_id", "grade")


def valid_id_number(number: str) -> bool:
    """GB 11643 check digit for 18-digit numbers; 15-digit legacy numbers have none."""
    if not number.isascii():  # str.isdigit() also takes ² and fullwidth digits, which int() may not read
        return False
    if len(number) == 15:
        return number.isdigit()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == number[17].upper()


def phone_field(value: str | None) -> list[str]:
    """The numbers in a phone field; a number another system masked (139****0001) is kept as
    it is, since its visible digits still identify the caller well enough to match on."""
    if not value:
        return []
    compact = re.sub(r"\s", "", value)
    return [compact] if MASKED_PHONE.match(compact) else phones(value)


def phones(text: str) -> list[str]:
    found = ["".join(m.groups()) for m in MOBILE.finditer(text)]
    found += [f"{a}-{b}" for a, b in LANDLINE.findall(text)]
    return list(dict.fromkeys(found))


def id_numbers(text: str) -> list[str]:
    return list(dict.fromkeys(n.upper() for n in ID_NUMBER.findall(text) if valid_id_number(n)))


def phone_tail(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-4:] if len(digits) >= 4 else None


# --- masking single values -----------------------------------------------------------------------

def mask_phone(phone: str) -> str:
    digits = re.sub(r"[^\d-]", "", phone)
    if "-" in digits:
        area, local = digits.split("-", 1)
        local = local.replace("-", "")
        return f"{area}-{'*' * max(0, len(local) - 4)}{local[-4:]}"
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "*" * len(digits)


def mask_id_number(number: str) -> str:
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}" if len(number) > 10 else "*" * len(number)


def surname_of(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def mask_name(name: str | None) -> str | None:
    """张三丰 → 张**, 欧阳娜娜 → 欧阳**; a name already written as 王某 or 李女士 stays."""
    if not name or ANONYMOUS.search(name[1:]):
        return name
    surname = surname_of(name)
    return surname + "*" * max(1, len(name) - len(surname))


def mask_address(text: str | None) -> str | None:
    """Down to the building: unit, flat and house numbers go (3号楼2单元501 → 3号楼*单元***)."""
    if not text:
        return text
    text = DOOR_TRIPLE.sub(lambda m: f"{m.group(1)}-*-***", text)
    text = FLAT_AFTER_UNIT.sub(lambda m: m.group(1) + ("*层" if m.group(2) else "") + "***" + (m.group(4) or ""),
                               text)
    text = UNIT.sub("*单元", text)
    text = FLAT_NUMBER.sub("***", text)
    text = FLAT_NEAR.sub(lambda m: m.group(1) + "***", text)
    return HOUSE_NUMBER.sub(lambda m: m.group(1) + "*", text)


@lru_cache(maxsize=1)
def _tagger():
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


@lru_cache(maxsize=100_000)
def names_in(text: str) -> tuple[str, ...]:
    """Person names jieba recognises in free text (张建国反映… → 张建国): tagged ``nr``, starting
    with a surname, and not the first part of a place name (海拉尔东路)."""
    found, position = [], 0
    for pair in _tagger().cut(text):
        word, flag = pair.word, pair.flag
        position += len(word)
        if (flag == "nr" and 2 <= len(word) <= 4 and word not in NOT_NAME_WORDS
                and surname_of(word) in ALL_SURNAMES and not ANONYMOUS.search(word[1:])
                and not PLACE_SUFFIX.match(text, position)):
            found.append(word)
    return tuple(dict.fromkeys(found))


def mask_text(text: str | None, names: tuple[str, ...] = ()) -> str | None:
    """Free text with phones, ID numbers, people's names and door-level address parts masked.
    ``names`` are names known from the record (they are masked wherever they recur)."""
    if not text:
        return text
    text = mask_numbers(text)
    for name in [*sorted(names, key=len, reverse=True), *names_in(HIGHLIGHT.sub("", text))]:
        text = _spelled(name).sub(_masked_as(mask_name(name)), text)
    return mask_address(text)


def _masked_as(masked: str):
    # A highlight that cut through the name now marks the whole (masked) name.
    return lambda m: f"<em>{masked}</em>" if HIGHLIGHT.search(m.group(0)) else masked


HIGHLIGHT = re.compile("</?em>")


@lru_cache(maxsize=10_000)
def _spelled(name: str) -> re.Pattern:
    """The name as written, also when a search highlight cuts through it (张<em>三丰</em>)."""
    tag = "(?:</?em>)?"
    return re.compile(tag + tag.join(map(re.escape, name)) + tag)


def mask_numbers(text: str | None) -> str | None:
    """Only the phones and ID-shaped numbers masked (a mistyped ID is still personal): what the
    search index stores, so that no backend ever holds a whole number."""
    if not text:
        return text
    text = ID_NUMBER.sub(lambda m: mask_id_number(m.group(1)), text)
    text = ID_SPACED.sub(lambda m: mask_id_number("".join(m.groups())), text)
    text = MOBILE.sub(lambda m: mask_phone("".join(m.groups())), text)
    return LANDLINE.sub(lambda m: mask_phone(f"{m.group(1)}-{m.group(2)}"), text)


# --- masking whole records ---------------------------------------------------------------------------

def _is_person(value: dict) -> bool:
    """A dict naming someone: a reporter, a party; not an organisation, a unit or a mediator."""
    return ("name" in value and value.get("kind", "person") != "organisation"
            and not any(key in value for key in STAFF_OR_UNIT))


def known_names(value: Any, found: set[str] | None = None) -> set[str]:
    """The people's names a record holds in its structured fields."""
    found = set() if found is None else found
    if isinstance(value, dict):
        if _is_person(value) and isinstance(value.get("name"), str):
            found.add(value["name"])
        for key, item in value.items():
            if key in ("attendees", "names") and isinstance(item, list):
                found.update(i for i in item if isinstance(i, str))
            elif key in ("party", "worker") and isinstance(item, str):
                found.add(item)
            elif key not in STRUCTURAL:
                known_names(item, found)
    elif isinstance(value, list):
        for item in value:
            known_names(item, found)
    return {n for n in found if len(n) >= 2 and not ANONYMOUS.search(n[1:]) and surname_of(n) != n}


def _masked_value(key: str, item: Any, names: tuple[str, ...], person: bool) -> Any:
    if isinstance(item, (dict, list)):
        return _mask(item, names)
    if not isinstance(item, str) or key in STRUCTURAL or key.endswith(("_id", "_at", "_date", "_on")):
        return item
    if key == "phone":
        return mask_phone(item)
    if key == "id_number":
        return mask_id_number(item)
    if key in ("name", "party", "worker") and person:
        return mask_name(item)
    if key == "name":
        return item  # an organisation's name
    return mask_text(item, names)


def _mask(value: Any, names: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        person = _is_person(value) or "party" in value or "worker" in value
        masked = {}
        for key, item in value.items():
            if key == "phones" and isinstance(item, list):
                masked[key] = [mask_phone(p) for p in item if isinstance(p, str)]
            elif key == "id_numbers" and isinstance(item, list):
                masked[key] = [mask_id_number(n) for n in item if isinstance(n, str)]
            elif key in ("attendees", "names") and isinstance(item, list):
                masked[key] = [mask_name(n) if isinstance(n, str) else n for n in item]
            else:
                masked[key] = _masked_value(key, item, names, person)
        return masked
    if isinstance(value, list):
        return [_mask(item, names) for item in value]
    if isinstance(value, str):
        return mask_text(value, names)
    return value


def mask_record(value: Any, extra_names: set[str] | frozenset[str] = frozenset()) -> Any:
    """A deep copy of a view, a payload or a document with every personal datum masked."""
    names = tuple(known_names(value) | set(extra_names))
    return _mask(value, names)
