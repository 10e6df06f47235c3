"""Long sentences cut into windows at sentence ends, for NER training, evaluation and serving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmline.models.windows import piece_costs, sentence_windows, window_bounds
from llmline.tasks.ner import cut_long_sentences
from llmline.train.token_data import Sentence

# Two sentences of a health record; the second holds an entity that truncation at 16 loses.
RECORD = list("患者3月前因便血就诊。行直肠癌根治术，术后恢复可；复查CT未见转移。")


def test_windows_end_after_sentence_ends_then_clause_ends_then_at_the_limit() -> None:
    ones = [1] * len(RECORD)
    bounds = window_bounds(RECORD, ones, 16)
    assert bounds == [(0, 11), (11, 25), (25, len(RECORD))]  # after 。 and ；, not at 16
    clauses = list("行直肠癌根治术，术后恢复可，复查CT未见转移")  # no sentence end: the last ，
    assert window_bounds(clauses, [1] * len(clauses), 16) == [(0, 14), (14, len(clauses))]
    assert bounds[-1][1] == len(RECORD)
    # consecutive and complete: every word exactly once, in order
    assert [i for a, b in bounds for i in range(a, b)] == list(range(len(RECORD)))
    assert all(b - a <= 16 for a, b in bounds)
    unbroken = list("甲" * 40)
    assert window_bounds(unbroken, [1] * 40, 16) == [(0, 16), (16, 32), (32, 40)]
    assert window_bounds(RECORD, ones, 100) == [(0, len(RECORD))]
    assert window_bounds([], [], 8) == []


def test_a_break_at_the_windows_first_word_is_not_taken_and_costs_are_tokens() -> None:
    words = ["。", "a", "b", "c", "d"]
    assert window_bounds(words, [1] * 5, 3) == [(0, 3), (3, 5)]  # no empty or 1-word window
    # a word costing more than the budget still gets a window of its own
    assert window_bounds(["x", "long", "y"], [1, 9, 1], 4) == [(0, 1), (1, 2), (2, 3)]


def test_english_breaks_at_a_lone_full_stop_not_at_abbreviations_or_numbers() -> None:
    words = ["Dr.", "Smith", "saw", "3.", "patients", ".", "Then", "Mrs.", "Lee", ",", "aged",
             "4.", ",", "came"]  # fmt: skip
    # the window [0, 10) holds "Dr.", "3." and "Mrs." late; only the lone "." (index 5) ends it
    assert window_bounds(words, [1] * len(words), 10)[0] == (0, 6)
    # no lone full stop inside: the last "," (index 9) is the clause end
    assert window_bounds(words[6:], [1] * 8, 6)[0] == (0, 4)


def test_piece_costs_count_word_pieces(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    [costs] = piece_costs(tokenizer, [["unbelievably", "ok", "."]])
    assert costs[1:] == [1, 1] and costs[0] > 1
    english = ["word"] * 30 + ["."] + ["word"] * 30
    [bounds] = sentence_windows([english], tokenizer, 40, one_token_per_word=False)
    assert bounds == [(0, 31), (31, 61)]  # 38 tokens left after [CLS] and [SEP]
    [short] = sentence_windows([english[:5]], tokenizer, 40, one_token_per_word=False)
    assert short == [(0, 5)]


def test_training_windows_keep_every_tag_and_start_entities_with_b(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    # 直肠癌根治术 (12-17) is tagged; max_length 20 leaves 18 characters a window
    tags = ["O"] * 12 + ["B-SUR"] + ["I-SUR"] * 5 + ["O"] * (len(RECORD) - 18)
    record = Sentence(RECORD, tags)
    short = Sentence(list("张三"), ["B-PER", "I-PER"])
    windows = cut_long_sentences([record, short], tokenizer, max_length=20,
                                 one_token_per_word=True, split="train")  # fmt: skip
    assert [w.tokens for w in windows][-1] == short.tokens
    assert [t for w in windows[:-1] for t in w.tokens] == RECORD
    assert [t for w in windows[:-1] for t in w.tags] == tags
    unbroken = Sentence(list("甲乙丙丁戊己"), ["B-X", "I-X", "I-X", "I-X", "I-X", "O"])
    first, second = cut_long_sentences([unbroken], tokenizer, max_length=5,
                                       one_token_per_word=True, split="train")  # fmt: skip
    assert first.tags == ["B-X", "I-X", "I-X"] and second.tags == ["B-X", "I-X", "O"]


@pytest.fixture()
def ner_predictor(tiny_bert_dir: Path) -> Any:
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from llmline.models.meta import ModelMeta
    from llmline.models.ner import NerPredictor, label_config

    torch.manual_seed(0)
    tags = ["O", "B-DIS", "I-DIS"]
    model = BertForTokenClassification.from_pretrained(tiny_bert_dir, **label_config(tags))
    model.eval()
    meta = ModelMeta(labels=tags, pooling="token", max_length=16, task="ner",
                     extra={"word_unit": "char", "token_unit": "char"})  # fmt: skip
    return NerPredictor(model, AutoTokenizer.from_pretrained(tiny_bert_dir), meta)


def test_the_predictor_tags_every_word_of_a_long_sentence_window_by_window(
    ner_predictor: Any,
) -> None:
    """Before, words past max_length got O with probability 1.0; now every word is scored,
    exactly as its window is scored alone."""
    [scores] = ner_predictor._word_scores([RECORD])
    assert len(scores) == len(RECORD)
    assert all(probability < 1.0 for _, probability in scores)
    windows = [RECORD[a:b] for a, b in window_bounds(RECORD, [1] * len(RECORD), 14)]
    alone = [s for w in windows for s in ner_predictor._word_scores([w])[0]]
    assert [label for label, _ in scores] == [label for label, _ in alone]
    assert [p for _, p in scores] == pytest.approx([p for _, p in alone], abs=1e-5)
    [result] = ner_predictor.predict(["".join(RECORD)])
    for entity in result["entities"]:  # offsets index the original text across windows
        assert "".join(RECORD)[entity["start"] : entity["end"]] == entity["text"]
