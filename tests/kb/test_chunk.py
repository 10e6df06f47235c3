from __future__ import annotations

import random
from itertools import pairwise

import pytest

from llmline.kb.chunk import chunk_text, count_units


def test_units_count_cjk_characters_and_english_words() -> None:
    assert count_units("信用卡") == 3
    assert count_units("reset my PIN") == 3
    assert count_units("用 Visa 卡支付，then pay.") == 7


def test_chinese_chunks_end_at_sentence_marks_and_point_into_the_text() -> None:
    text = "患者男，四十五岁，最近三天头痛。伴有恶心和呕吐！是否需要做检查？建议先测量血压。" * 3
    chunks = chunk_text(text, size=30, overlap=8)
    assert len(chunks) > 2
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert count_units(chunk.text) <= 30
    assert all(c.text[-1] in "。！？" for c in chunks[:-1])
    assert chunks[-1].end == len(text)


def test_english_chunks_keep_the_period_and_overlap() -> None:
    text = " ".join(f"Sentence number {i} talks about refunds and cards." for i in range(20))
    chunks = chunk_text(text, size=40, overlap=10)
    assert all(c.text.endswith(".") for c in chunks)
    for before, after in pairwise(chunks):
        assert after.start < before.end  # overlap
        assert after.start > before.start  # progress


def test_paragraph_break_is_preferred_over_sentence_end() -> None:
    first = "第一段第一句。第一段第二句。第一段第三句。"
    text = first + "\n\n" + "第二段的内容很长。" * 5
    chunks = chunk_text(text, size=len(first) + 6, overlap=0)
    assert chunks[0].text == first


def test_a_sentence_longer_than_the_chunk_is_cut_and_nothing_is_lost() -> None:
    text = "无标点的超长句子" * 40
    chunks = chunk_text(text, size=50, overlap=0)
    assert "".join(c.text for c in chunks) == text


def test_empty_and_punctuation_only_text() -> None:
    assert chunk_text("", 10, 2) == []
    assert chunk_text("   ", 10, 2) == []
    assert [c.text for c in chunk_text("。。！", 10, 2)] == ["。。！"]


@pytest.mark.parametrize("seed", range(5))
def test_random_mixed_text_offsets_and_sizes_hold(seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["信用卡", "挂失。", "card ", "lost. ", "\n\n", "！", "refund ", "五天", "? "]
    text = "".join(rng.choice(pieces) for _ in range(400))
    chunks = chunk_text(text, size=37, overlap=9)
    covered = 0
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert count_units(chunk.text) <= 37
        assert chunk.start <= covered  # no gap between consecutive chunks
        covered = max(covered, chunk.end)
    assert text[covered:].strip() == ""
