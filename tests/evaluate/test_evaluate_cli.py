"""`llmline evaluate --data FILE` for every task: its own reader and metrics, the run's label
map, clear errors (exit 2) on bad input. Test files mix English and Chinese."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from llmline.cli import main
from llmline.models.meta import ModelMeta
from tests.conftest import write_csv
from tests.models.conftest import build_tiny_llama

LABEL_MAP = {"账单": "billing", "银行卡": "cards"}  # raw source labels -> the model's


def _evaluate(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["evaluate", *argv]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def _error(argv: list[str], capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and fragment in err.strip().splitlines()[-1]


@pytest.fixture()
def classifier(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """The tiny classifier inside a run directory whose spec renames Chinese raw labels."""
    model = tmp_path / "run" / "model"
    shutil.copytree(tiny_model_dir, model)
    spec = "name: x\ndata:\n  label_map: {账单: billing, 银行卡: cards}\n"
    (tmp_path / "run" / "spec.yaml").write_text(spec, encoding="utf-8")
    return model


ROWS = [("invoice charge fee", "账单"), ("我的信用卡被扣了两次费", "账单"),
        ("card pin atm", "银行卡"), ("银行卡丢了怎么办", "银行卡"),
        ("hello weather", "other"), ("今天天气不错", "other")]  # fmt: skip


def test_classification_file_in_the_sources_own_labels_scores_right(
    classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.evaluate.stage import evaluate_texts
    from llmline.models.predictor import load_predictor

    data = write_csv(tmp_path / "test.csv", ROWS)
    result = _evaluate(["--model", str(classifier), "--data", str(data)], capsys)
    expected = evaluate_texts(load_predictor(classifier), [t for t, _ in ROWS],
                              [LABEL_MAP.get(lb, lb) for _, lb in ROWS])  # fmt: skip
    assert result["task"] == "classification" and result["primary"] == "accuracy"
    assert result["rows"] == 6 and result["metrics"] == expected["metrics"]
    # Recorded in the model itself (as training now does), the map wins over spec.yaml.
    meta = ModelMeta.load(classifier)
    meta.extra["label_map"] = {"账单": "cards", "银行卡": "billing"}
    meta.save(classifier)
    swapped = {"账单": "cards", "银行卡": "billing"}
    again = evaluate_texts(load_predictor(classifier), [t for t, _ in ROWS],
                           [swapped.get(lb, lb) for _, lb in ROWS])  # fmt: skip
    result = _evaluate(["--model", str(classifier), "--data", str(data)], capsys)
    assert result["metrics"] == again["metrics"]


def test_classification_columns_formats_and_bad_input(
    classifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsv = tmp_path / "test.data"
    tsv.write_text("问题\t类别\n" + "".join(f"{t}\t{lb}\n" for t, lb in ROWS), encoding="utf-8")
    result = _evaluate(["--model", str(classifier), "--data", str(tsv), "--format", "tsv",
                        "--text-col", "问题", "--label-col", "类别"], capsys)  # fmt: skip
    assert result["rows"] == 6
    model = ["--model", str(classifier)]
    _error([*model, "--data", str(tsv), "--format", "tsv"], capsys, "'text'")  # missing column
    _error([*model, "--data", str(tsv), "--format", "xlsx"], capsys, "unknown")
    _error([*model, "--data", str(tmp_path / "nope.csv")], capsys, "does not exist")
    csv = write_csv(tmp_path / "t.csv", ROWS)
    _error([*model, "--data", str(csv), "--pair-col", "other"], capsys, "one text per row")
    unlabelled = write_csv(tmp_path / "u.csv", [("text only", "")])
    _error([*model, "--data", str(unlabelled)], capsys, "no label")


@pytest.fixture(scope="module")
def ner_model(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from llmline.models.ner import label_config

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("ner-model")
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert_dir, **label_config(tags))
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(directory)
    ModelMeta(labels=tags, pooling="token", normalize=False, max_length=32, task="ner",
              extra={"label_map": {"PERSON": "PER", "GPE": "LOC"}}).save(directory)  # fmt: skip
    return directory


def test_ner_reads_conll_renames_entity_types_and_reports_entity_metrics(
    ner_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmline.tasks import ReadOptions
    from llmline.tasks.ner import read_file

    conll = tmp_path / "test.conll"
    conll.write_text("Anna B-PERSON\nvisited O\nParis B-GPE\n\n张 B-PERSON\n伟 I-PERSON\n在 O\n"
                     "北京 B-GPE\n\n", encoding="utf-8")  # fmt: skip
    sentences = read_file(conll, ReadOptions(), ner_model)
    assert [s.tags for s in sentences] == [["B-PER", "O", "B-LOC"],
                                           ["B-PER", "I-PER", "O", "B-LOC"]]  # fmt: skip
    result = _evaluate(["--model", str(ner_model), "--data", str(conll)], capsys)
    assert result["task"] == "ner" and result["rows"] == 2 and result["primary"] == "entity_f1"
    assert set(result["metrics"]) == {"entity_f1", "entity_precision", "entity_recall",
                                      "macro_f1", "accuracy"}  # fmt: skip
    spans = tmp_path / "spans.jsonl"
    spans.write_text(json.dumps({"text": "张伟 visited Paris", "entities": [
        {"start": 0, "end": 2, "label": "PERSON"}, {"start": 11, "end": 16, "label": "GPE"}]},
        ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    assert _evaluate(["--model", str(ner_model), "--data", str(spans)], capsys)["rows"] == 1
    _error(["--model", str(ner_model), "--data", str(conll), "--format", "nope"], capsys,
           "unknown")  # fmt: skip


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = build_tiny_llama(tmp_path_factory.mktemp("chat-model"))
    ModelMeta(labels=[], pooling="none", normalize=False, max_length=64, task="causal_lm",
              extra={"generation": {"max_new_tokens": 3}}).save(directory)  # fmt: skip
    return directory


def test_causal_lm_scores_chat_jsonl_by_its_own_metrics(
    chat_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": "where is my card"},
                          {"role": "assistant", "content": "card_arrival"}]},
            {"prompt": "我的卡丢了", "response": "挂失银行卡"}]  # fmt: skip
    chat.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = _evaluate(["--model", str(chat_model), "--data", str(chat)], capsys)
    assert result["task"] == "causal_lm" and result["primary"] == "exact_match"
    assert set(result["metrics"]) == {"exact_match", "rouge_l", "perplexity"}
    assert result["rows"] == 2 and result["metrics"]["perplexity"] > 1.0
    asks = tmp_path / "asks.jsonl"
    asks.write_text(json.dumps({"messages": [{"role": "assistant", "content": "hi"},
                                             {"role": "user", "content": "你好"}]}),
                    encoding="utf-8")  # fmt: skip
    _error(["--model", str(chat_model), "--data", str(asks)], capsys, "last message")
