"""Danger concepts behind risk grade 3, each a set of wordings read on the simplified text as
written (never after numerals became digits, so 一死了之 and 十几个人 are heard).

A concept is what the text says, not a word: a weapon in someone's hand, an injury's visible
sign, violence in the family, a threat to kill, maim, take revenge or burn, self-harm or a
climb to a height, a group gathering or blocking, vulnerable people cut off from water, heat,
food or care, a physical hazard over people, a confrontation still going on. Each finding
quotes the words it rests on. The wordings come from the shipped training cases and the
development set only (tests/unit/test_lexicon_provenance.py checks it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fengqiao.chinese import headcount

# Phrases that sound dangerous and are not: blanked before the concepts read the text.
HARMLESS = ("死胡同", "杀价", "砍价", "炸鸡", "炸串", "炸酱面", "刀削面", "笑死", "累死", "热死", "冷死", "吓死",
            "烦死", "气死", "饿死", "困死", "急死", "忙死", "打针", "打电话", "打车", "打工", "打扫", "打算", "打听",
            "打折", "打卡", "打印", "打桩", "打疫苗", "砍树", "杀毒", "开刀", "刀口", "一刀切", "拼车", "拼单",
            "拼多多", "打官司", "打款", "打钱", "打欠条", "打条", "打井", "打药")

_CLAUSE = r"[^，。；！？,.;!?\n]"
WEAPON = ("刀|斧|棍|棒|锹|锨|锄|镰|钢管|铁管|扳手|酒瓶|砖|匕首|剪刀|铁叉|叉子|弹弓|枪|硫酸|镐|汽油|煤气罐|打火机|"
          "农具|铁器|家伙|器械")
HEIGHT = "塔吊|吊车|楼顶|天台|窗台|窗外|桥|栏杆|水塔|烟囱|电线杆|屋顶|房顶|楼沿|护栏|脚手架|广告牌|高处|顶上"
RELATIVE = "丈夫|老公|男人|前夫|妻子|老婆|父亲|爸爸|继父|儿子|女婿|男友|男朋友|对象|公公|婆婆"
VULNERABLE = ("老人|独居|高龄|孤老|五保|残疾|瘫痪|卧床|失能|失智|病人|患者|婴儿|孩子|儿童|孕妇|幼儿|低保|特困|空巢|"
              "精神障碍|抑郁|重病")
CUT_OFF = ("断水|断电|断暖|断气|停水|停电|停暖|停气|断供|断粮|断炊|断煤|断药|断餐|断食|没饭吃|没吃的|吃不上饭|"
           "结冰|冻得|无人照料|无人照顾|没人管|没人照顾|无人照护|没人照料|无人监护|制氧机|阀门关")

CONCEPTS: dict[str, re.Pattern] = {name: re.compile(pattern) for name, pattern in {
    "自伤自杀": r"不想活|活不下去|活着(也)?没意思|一死了之|去死|寻死|轻生|自杀|自尽|自焚|自残|自伤|割腕|跳楼|跳河|"
            r"跳桥|跳江|跳下去|跳下来|从楼上跳|农药|服药|服毒|喝药|吞药|安眠药|囤药|烧炭|上吊|遗书|绝笔|后事|诀别|"
            r"告别|永别|下辈子|托付|以死|不活了|死了算了|结束生命|了结自己|寻短见|想不开|一起死|一起走|同归于尽",
    "攀高拒下": rf"(爬|攀|站|坐|蹲|翻|上了){_CLAUSE}{{0,8}}({HEIGHT})|(拒不|不肯|不愿|不)下来|松手",
    "扬言伤人、报复": r"杀了|杀人|砍死|弄死|打死|捅死|捅了|砍了|宰了|要(他|你|她)的?命|索命|见血|拼命|拼了|"
                r"报复|寻仇|报仇|(找|跟|和)[^，。]{0,4}算账|放火|纵火|烧房|烧车|烧死|把[^，。]{0,6}(烧了|点了|炸了)|"
                r"炸药|泼硫酸|毁容|打断[^，。]{0,3}腿|不会放过|一命换一命|死给",
    "持械": rf"(持|拿|举|带|握|挥|掏|拎|提|携|扛|备){_CLAUSE}{{0,5}}({WEAPON})|菜刀|砍刀|匕首|凶器|猎枪|持械|械斗",
    "伤情": r"流血|出血|见血|有血|是血|骨折|昏迷|不省人事|倒地不(起|动)|躺着不动|一动不动|重伤|烫伤|烧伤|"
          r"缝针|抽搐|口吐白沫|晕倒|晕过去|呼吸困难|中毒|抢救|急救|救护车|"
          r"(打|殴|砍|捅|踢|推|撞|摔)" + _CLAUSE + r"{0,8}伤",
    "家庭暴力": rf"家暴|家庭暴力|虐待|({RELATIVE}){_CLAUSE}{{0,8}}(打|殴|揍|踹|踢|砸|扇)",
    "严重侵害": r"性侵|猥亵|强奸|拐卖|绑架|劫持|挟持|非法拘禁|限制人身自由|关起来|不让走|传销",
    "冲突持续": rf"(还在|仍在|正在|一直在|又在){_CLAUSE}{{0,6}}(打|殴|砸|对峙|追|砍|施暴|冲突|围)|一触即发|"
            r"打砸|斗殴|群殴|围殴|砸门|砸窗|砸车|打起来了|要打起来|动手了",
    "人身险情": r"坍塌|塌陷|倒塌|垮塌|溃坝|决堤|坠落|坠物|抛物|悬空|摇摇欲坠|随时(可能|会)?(掉|塌|倒)|泄漏|漏气|"
            r"煤气味|燃气味|有毒|毒气|起火|着火|火灾|冒烟|浓烟|触电|漏电|飞线|被困|困人|溺水|冰面|深井|"
            r"井盖|危墙|危房|危楼|承重墙|危化品|侧翻|翻车|压人|压住",
}.items()}
VULNERABLE_PEOPLE = re.compile(VULNERABLE)
CUT_OFF_SUPPLY = re.compile(CUT_OFF)
GATHERING = re.compile(r"聚集|聚众|围堵|堵路|堵门|堵住|堵在|堵了|堵着|拦路|拦车|围住|围着|围困|围车|拉横幅|打横幅|"
                       r"静坐|下跪|对峙|集体(上访|访)|冲击|冲进|花圈|灵堂|停尸|阻工|扣车|约定|串联|组织")
MANY = re.compile(r"几十|数十|上百|成百|数百|大批|一帮|一群|一伙|成群|众多|一大帮|全村|全体|集体|"
                  r"村民们|业主们|家长们")
NEGATED = re.compile(r"(没有|没|未|无|并非|不是|不会|不)$")


@dataclass(frozen=True)
class Finding:
    concept: str
    evidence: str

    def reason(self) -> str:
        return f"{self.concept}：『{self.evidence}』"


def blank_harmless(text: str) -> str:
    for phrase in HARMLESS:
        if phrase in text:
            text = text.replace(phrase, "□" * len(phrase))
    return text


def _first(pattern: re.Pattern, text: str) -> str | None:
    """The first match not negated just before it (没有受伤, 不会报复)."""
    for m in pattern.finditer(text):
        if not NEGATED.search(text[max(0, m.start() - 2):m.start()]):
            return m.group(0)
    return None


def findings(text: str, people: int | None = None) -> list[Finding]:
    """Grade-3 concepts in a simplified text whose harmless idioms are blanked, with the words that show each."""
    found = [Finding(name, hit) for name, pattern in CONCEPTS.items() if (hit := _first(pattern, text))]
    count = max(people or 0, headcount(text) or 0)
    gathering = _first(GATHERING, text)
    many = MANY.search(text)
    if gathering and (count >= 10 or many):
        who = f"{count}人以上" if count >= 10 else many.group(0)
        found.append(Finding("群体聚集", f"{who}，{gathering}"))
    vulnerable, cut_off = VULNERABLE_PEOPLE.search(text), _first(CUT_OFF_SUPPLY, text)
    if vulnerable and cut_off:
        found.append(Finding("弱势人员断供", f"{vulnerable.group(0)}，{cut_off}"))
    return found
