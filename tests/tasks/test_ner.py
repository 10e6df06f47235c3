"""NER: CoNLL reading, span conversion, word-piece alignment, seqeval, the chain end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmline.chain import run_chain
from llmline.data.conll import read_conll
from llmline.errors import DataError
from llmline.models.ner import decode_entities
from llmline.models.words import words_with_offsets
from llmline.spec import SourceSpec, load_spec
from llmline.tasks.ner import IGNORE, align_labels, encode_sentences, seqeval_report
from llmline.train.token_data import Sentence, spans_to_tags
from llmline.workspace import Workspace

PEOPLE = ["Anna Smith", "John Miller", "Maria Garcia", "Peter Brown", "Laura Chen"]
PLACES = ["Paris", "Berlin", "Madrid", "Tokyo", "Boston"]


def write_conll(path: Path, rows: int = 40) -> Path:
    lines = ["-DOCSTART- O", ""]
    for i in range(rows):
        first, last = PEOPLE[i % 5].split()
        place = PLACES[(i * 3) % 5]
        lines += [f"{first} B-PER ", f"{last} I-PER", "visited O", f"{place} B-LOC", ". O", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_conll_reader_skips_docstart_and_keeps_tags(tmp_path: Path) -> None:
    rows = list(read_conll(SourceSpec(path=write_conll(tmp_path / "a.txt", 2))))
    assert len(rows) == 2
    assert rows[0]["tokens"] == ["Anna", "Smith", "visited", "Paris", "."]
    assert rows[0]["tags"] == ["B-PER", "I-PER", "O", "B-LOC", "O"]


def test_conll_keeps_unicode_space_tokens_and_splits_on_ascii_whitespace(tmp_path: Path) -> None:
    """CMeQA-NER tags the ideographic space U+3000 as a token: `str.split()` would lose it and
    leave a tag without a token; U+2028 inside a token must not end the line either."""
    path = tmp_path / "zh.txt"
    path.write_text("便 B_disease\n秘 I_disease\n\u3000 O\n痛\tO\na\u2028b O\n\u3000\n\n胃 O\n",
                    encoding="utf-8")  # fmt: skip
    rows = list(read_conll(SourceSpec(path=path, format="conll")))
    assert [r["tokens"] for r in rows] == [["便", "秘", "\u3000", "痛", "a\u2028b"], ["胃"]]
    assert rows[0]["tags"] == ["B_disease", "I_disease", "O", "O", "O"]


def test_conll_line_without_tag_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("Anna B-PER\nvisited\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.txt:2"):
        list(read_conll(SourceSpec(path=path)))


def test_spans_become_iob2_tags() -> None:
    text = "Anna Smith flew to New York."
    sentence = spans_to_tags(
        text, [{"start": 0, "end": 10, "label": "PER"}, {"start": 19, "end": 27, "label": "LOC"}],
        where="x",
    )  # fmt: skip
    assert sentence.tokens == ["Anna", "Smith", "flew", "to", "New", "York", "."]
    assert sentence.tags == ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"]


def test_first_piece_labelled_others_ignored_or_all() -> None:
    tags = ["O", "B-PER", "I-PER"]
    word_ids = [None, 0, 0, 1, None]
    assert align_labels(word_ids, [1, 0], label_all_tokens=False, tags=tags) == [
        IGNORE, 1, IGNORE, 0, IGNORE,
    ]  # fmt: skip
    assert align_labels(word_ids, [1, 0], label_all_tokens=True, tags=tags) == [
        IGNORE, 1, 2, 0, IGNORE,
    ]  # fmt: skip


def test_seqeval_scores_entities_not_tokens() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    half = [["B-PER", "O", "O", "B-LOC"]]  # 3 of 4 tokens right, but PER span is wrong
    report = seqeval_report(gold, half)
    assert report["accuracy"] == 0.75
    assert report["entity_f1"] == 0.5
    assert report["per_type"]["LOC"]["f1"] == 1.0 and report["per_type"]["PER"]["f1"] == 0.0


def test_decode_entities_gives_character_offsets() -> None:
    text = "Ms Anna Smith lives in  Paris"
    words = words_with_offsets(text)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    ids = [0, 1, 2, 0, 0, 3]
    entities = decode_entities(text, words, [(i, 0.9) for i in ids], labels)
    assert [(e["label"], e["text"]) for e in entities] == [("PER", "Anna Smith"), ("LOC", "Paris")]
    assert text[entities[1]["start"] : entities[1]["end"]] == "Paris"


def ner_spec(tmp_path: Path, data: Path, base: Path, extra: str = "") -> Path:
    path = tmp_path / "ner.yaml"
    path.write_text(
        "name: toy-ner\ntask: ner\n"
        f"data:\n  source: {{path: {data}}}\n  validation_fraction: 0.25\n  dedup: false\n"
        f"train:\n  base_model: {base}\n  epochs: 2\n  batch_size: 8\n  learning_rate: 5.0e-3\n"
        f"  max_length: 32\n{extra}"
        "evaluate:\n  gates: [{metric: entity_f1, min: 0.1}]\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_ner_chain_trains_evaluates_registers_and_predicts(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from llmline.models.predictor import load_predictor

    spec = load_spec(ner_spec(tmp_path, write_conll(tmp_path / "train.txt"), tiny_bert_dir))
    ctx = run_chain(spec, Workspace.resolve(tmp_path / "ws"))
    report = json.loads((ctx.run.eval_dir / "report.json").read_text())
    assert set(report["per_type"]) == {"LOC", "PER"}
    assert report["entity_f1"] > 0.5  # trivially learnable toy data
    assert ctx.results["register"]["result"]["alias"] == "champion"
    predictor = load_predictor(ctx.run.model_dir)
    assert predictor.task == "ner"
    text = "Maria Garcia visited Tokyo ."
    entities = predictor.predict([text])[0]["entities"]
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["label"] in {"PER", "LOC"}


@pytest.mark.slow
def test_ner_chain_with_prompt_tuning_evaluates_and_predicts(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    """Prompt tuning through the whole chain: its virtual tokens are cut off the logits in the
    training loss, the seqeval metrics and the predictor, so offsets still match the text."""
    from llmline.models.predictor import load_predictor

    extra = "  peft: {method: prompt, virtual_tokens: 4}\n"
    spec_path = ner_spec(tmp_path, write_conll(tmp_path / "train.txt"), tiny_bert_dir, extra)
    ctx = run_chain(load_spec(spec_path), Workspace.resolve(tmp_path / "ws"), until="evaluate")
    report = json.loads((ctx.run.eval_dir / "report.json").read_text())
    assert 0.0 <= report["entity_f1"] <= 1.0 and report["rows"] > 0
    assert (ctx.run.model_dir / "adapter_model.safetensors").exists()
    text = "Maria Garcia visited Tokyo ."
    for entity in load_predictor(ctx.run.model_dir).predict([text])[0]["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]


NAMES_ZH = ["张三", "李四海", "王芳", "欧阳娜娜", "陈静"]
CITIES_ZH = ["北京", "上海", "广州", "深圳", "杭州"]


def write_bmes(path: Path, rows: int = 40, broken: bool = True) -> Path:
    """Resume-style BMES, one character per line; the last sentence has a stray M tag."""
    lines: list[str] = []
    for i in range(rows):
        name, city = NAMES_ZH[i % 5], CITIES_ZH[(i * 3) % 5]
        tags = ["B-NAME", *["M-NAME"] * (len(name) - 2), "E-NAME"]
        lines += [f"{ch} {tag}" for ch, tag in zip(name, tags, strict=True)]
        lines += ["在 O", f"{city[0]} B-LOC", f"{city[1]} E-LOC", "工 O", "作 O", "。 O", ""]
    if broken:
        lines += ["他 O", "在 O", "京 M-LOC", "。 O", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_bmes_and_cluener_files_read_as_iob2_with_repairs_counted(tmp_path: Path) -> None:
    from llmline.train.token_data import read_tagged

    tagged = read_tagged(SourceSpec(path=write_bmes(tmp_path / "train.char.bmes", 2)), key="k")
    assert tagged.sentences[0].tokens == list("张三在北京工作。")
    assert tagged.sentences[0].tags == ["B-NAME", "I-NAME", "O", "B-LOC", "I-LOC", "O", "O", "O"]
    assert len(tagged.repairs) == 1 and "train.char.bmes:3" in tagged.repairs[0]
    assert tagged.sentences[-1].tags == ["O", "O", "B-LOC", "O"]
    with pytest.raises(DataError, match="broken tag sequence"):
        read_tagged(SourceSpec(path=tmp_path / "train.char.bmes"), key="k", strict=True)

    cluener = tmp_path / "dev.json"
    row = {"text": "叶老桂在浙商银行", "label": {"name": {"叶老桂": [[0, 2]]},
                                                 "company": {"浙商银行": [[4, 7]]}}}  # fmt: skip
    cluener.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    [sentence] = read_tagged(SourceSpec(path=cluener), key="k").sentences
    assert sentence.tags == ["B-name", "I-name", "I-name", "O", "B-company", "I-company",
                             "I-company", "I-company"]  # fmt: skip


def test_character_corpora_encode_one_token_per_character() -> None:
    """E5's SentencePiece would put a `▁` before every character split into words; one token per
    character keeps the labels exactly in place, including unknown characters."""
    from tests.models.test_encoding import unigram_tokenizer

    tokenizer = unigram_tokenizer(["张", "三", "在", "北", "京"])
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    sentence = Sentence(list("张三在北京？"), ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"])
    split = encode_sentences([sentence], tokenizer, tags, max_length=32)[0]
    [row] = encode_sentences([sentence], tokenizer, tags, max_length=32, one_token_per_word=True)
    assert len(split["input_ids"]) > len(row["input_ids"]) == len(sentence.tokens) + 2
    assert row["labels"] == [IGNORE, 1, 2, 0, 3, 4, 0, IGNORE]
    assert tokenizer.convert_ids_to_tokens(row["input_ids"])[1:3] == ["张", "三"]
    [cut] = encode_sentences([sentence], tokenizer, tags, max_length=4, one_token_per_word=True)
    assert cut["labels"] == [IGNORE, 1, 2, IGNORE]


def test_chinese_spans_split_into_characters() -> None:
    text = "患者张三在北京协和医院确诊糖尿病"
    sentence = spans_to_tags(text, [{"start": 2, "end": 4, "label": "PER"}], where="x")
    assert sentence.tokens == list(text)
    assert sentence.tags[:5] == ["O", "O", "B-PER", "I-PER", "O"]


@pytest.mark.slow
def test_character_level_chinese_ner_predicts_character_offsets(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from llmline.models.meta import ModelMeta
    from llmline.models.predictor import load_predictor

    spec = load_spec(ner_spec(tmp_path, write_bmes(tmp_path / "train.char.bmes"), tiny_bert_dir))
    ctx = run_chain(spec, Workspace.resolve(tmp_path / "ws"), until="evaluate")
    report = json.loads((ctx.run.data_dir / "data_report.json").read_text())
    assert report["reading"]["data.source"]["repaired_sentences"] == 1
    meta = ModelMeta.load(ctx.run.model_dir)
    assert meta.extra["word_unit"] == "char" and meta.extra["token_unit"] == "char"
    text = "请问王芳在上海吗？iPhone 15"
    predictor = load_predictor(ctx.run.model_dir)
    _, _, word_ids = predictor._encode([list("王芳在上海")])
    assert word_ids == [[None, 0, 1, 2, 3, 4, None]]  # one token per character, as in training
    [result] = predictor.predict([text])
    for entity in result["entities"]:  # whatever a tiny model finds, offsets are characters
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["end"] - entity["start"] <= len(text)
