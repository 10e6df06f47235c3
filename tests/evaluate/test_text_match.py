"""Exact match and ROUGE-L on English and Chinese answers: CJK text compares by character."""

from __future__ import annotations

import pytest

from llmline.evaluate.text_match import exact_match, normalize_answer, rouge_l, text_units


def test_english_rouge_l_is_word_level() -> None:
    assert rouge_l("card arrival", "card arrival") == 1.0
    assert rouge_l("card arrival", "nothing") == 0.0
    assert rouge_l("the card has arrived", "the card arrived") == pytest.approx(2 * 1 * 0.75 / 1.75)
    assert rouge_l("Card Arrival", "card arrival") == 1.0  # ROUGE is case-blind
    assert rouge_l("", "") == 1.0 and rouge_l("x", "") == 0.0


def test_chinese_rouge_l_is_character_level_not_all_or_nothing() -> None:
    # 我的卡丢了 vs 我的卡被偷了: LCS 我的卡了 = 4 of 5 and 6 characters
    score = rouge_l("我的卡丢了", "我的卡被偷了")
    assert score == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))
    assert 0.0 < score < 1.0
    assert rouge_l("北京是中国的首都", "北京 是 中国 的 首都") == 1.0  # spaces do not matter
    assert rouge_l("退款", "汇率") == 0.0


def test_mixed_text_keeps_latin_words_whole() -> None:
    assert text_units("我的 Visa 卡 declined了") == ["我", "的", "visa", "卡", "declined", "了"]
    assert rouge_l("Visa卡被拒", "visa 卡 被拒绝") == pytest.approx(2 * (4 / 5) * 1 / (4 / 5 + 1))


def test_exact_match_ignores_whitespace_around_cjk_but_keeps_case() -> None:
    assert exact_match("北京是首都", "北京 是 首都")
    assert exact_match(" card_arrival\n", "card_arrival")
    assert not exact_match("card_arrival", "Card_arrival")
    assert not exact_match("北京是首都", "北京是首都。")
    assert normalize_answer("new  york 纽约 市") == "new york纽约市"
