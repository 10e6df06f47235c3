"""Counterfactual variants: aligned swaps keep case and grammar, templates cover the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.errors import SpecError
from llmline.govern.terms import load_terms, text_language, variant_set


def test_english_gender_swap_keeps_case_and_alignment() -> None:
    terms = load_terms(["en"], ["gender"])["en"]["gender"]
    result = variant_set("He lost his card and his wife called.", terms, 0)
    assert result.mode == "swap"
    assert result.variants["female"] == "She lost her card and her husband called."
    assert result.variants["male"] == "He lost his card and his wife called."


def test_words_inside_other_words_are_not_swapped() -> None:
    terms = load_terms(["en"], ["gender"])["en"]["gender"]
    result = variant_set("The theme of the message is clear.", terms, 0)
    assert result.mode == "template"  # 'he' inside 'theme' is not a pronoun
    assert result.variants["female"].startswith("I am a woman. The theme")


def test_chinese_swap_prefers_the_longest_term() -> None:
    terms = load_terms(["zh"], ["gender"])["zh"]["gender"]
    result = variant_set("我男朋友说他的卡丢了", terms, 0)
    assert result.variants["female"] == "我女朋友说她的卡丢了"
    assert text_language("我的卡丢了") == "zh" and text_language("my card") == "en"


def test_names_template_cycles_through_identities() -> None:
    terms = load_terms(["en"], ["name"])["en"]["name"]
    first, second = variant_set("Check my balance.", terms, 0), variant_set("x", terms, 1)
    assert first.variants["black_male"] == "My name is Jamal. Check my balance."
    assert second.variants["black_male"].startswith("My name is Darnell.")
    assert len(first.variants) == 6


def test_user_terms_replace_an_attribute_and_unknown_attributes_fail(tmp_path: Path) -> None:
    custom = tmp_path / "terms.yaml"
    custom.write_text(
        "en:\n  region:\n    template: 'I live in {term}. {text}'\n"
        "    groups: {north: [Leeds], south: [Brighton]}\n",
        encoding="utf-8",
    )
    region = load_terms(["en"], ["region"], custom)["en"]["region"]
    assert variant_set("I moved to Leeds.", region, 0).variants["south"] == "I moved to Brighton."
    with pytest.raises(SpecError, match="caste"):
        load_terms(["en"], ["caste"])


def test_misaligned_swap_lists_are_refused(tmp_path: Path) -> None:
    custom = tmp_path / "terms.yaml"
    custom.write_text(
        "en:\n  gender:\n    template: '{term} {text}'\n    groups:\n"
        "      a: {identities: [x], swaps: [he, him]}\n      b: {identities: [y], swaps: [she]}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match="differ in length"):
        load_terms(["en"], ["gender"], custom)
