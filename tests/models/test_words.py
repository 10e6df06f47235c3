"""Words with offsets for text with and without spaces."""

from __future__ import annotations

import pytest

from llmline.models.words import (
    char_level,
    characters_with_offsets,
    has_cjk,
    words_with_offsets,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("患者张三在北京协和医院确诊", list("患者张三在北京协和医院确诊")),
        ("EU rejects German call on 1996-08-22.", ["EU", "rejects", "German", "call", "on",
                                                  "1996-08-22", "."]),
        ("请通过13756838140联系我，谢谢", ["请", "通", "过", "13756838140", "联", "系", "我", "，",
                                         "谢", "谢"]),
        ("iPhone15在上海发布。", ["iPhone15", "在", "上", "海", "发", "布", "。"]),
        ("東京とソウル、서울", ["東", "京", "と", "ソ", "ウ", "ル", "、", "서", "울"]),
        ("", []),
    ],
)  # fmt: skip
def test_words_and_offsets_index_the_original(text: str, words: list[str]) -> None:
    found = words_with_offsets(text)
    assert [w for w, _, _ in found] == words
    assert all(text[start:end] == word for word, start, end in found)


def test_characters_skip_spaces_and_keep_offsets() -> None:
    text = "张 三\t在1号"
    found = characters_with_offsets(text)
    assert [c for c, _, _ in found] == ["张", "三", "在", "1", "号"]
    assert all(text[s:e] == c for c, s, e in found)


def test_char_level_and_cjk_detection() -> None:
    assert char_level(["高", "勇", "1", "9"]) and not char_level(["EU", "rejects"])
    assert not char_level(["a", "b"])  # single letters, no CJK: an English corpus
    assert has_cjk("price 价格") and not has_cjk("price 123")
