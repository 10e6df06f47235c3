"""Loading a real (tiny, random) classifier as the judge: label mapping and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmline.errors import ModelError
from llmline.watch.sentiment import load_sentiment, sentiment_of
from llmline.workspace import Workspace


def _classifier(tiny_bert_dir: Path, directory: Path, labels: list[str]) -> Path:
    from transformers import AutoModel, AutoTokenizer

    from llmline.models.classifier import build_classifier, save_classifier
    from llmline.models.meta import ModelMeta

    meta = ModelMeta(labels=labels, max_length=32)
    model = build_classifier(AutoModel.from_pretrained(tiny_bert_dir), meta)
    save_classifier(model, AutoTokenizer.from_pretrained(tiny_bert_dir), directory)
    return directory


def test_a_saved_classifier_judges_marked_posts(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = _classifier(tiny_bert_dir, tmp_path / "finfe", ["0", "1", "2"])  # FinFE's labels
    judge = load_sentiment(str(model), Workspace.resolve(tmp_path / "ws"), {})
    results = judge.judge(["<t>贵州茅台</t>大涨", "$AAPL <t>lawsuit</t>"])
    assert [r.label in ("negative", "neutral", "positive") for r in results] == [True, True]
    assert all(-1.0 <= r.score <= 1.0 for r in results)
    assert str(model) in judge.version


def test_labels_that_are_not_sentiments_need_a_map(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = _classifier(tiny_bert_dir, tmp_path / "intents", ["billing", "cards", "other"])
    with pytest.raises(ModelError, match=r"watch\.label_map"):
        load_sentiment(str(model), Workspace.resolve(tmp_path / "ws"), {})
    mapped = {"billing": "negative", "cards": "neutral", "other": "positive"}
    assert load_sentiment(str(model), Workspace.resolve(tmp_path / "ws"), mapped).judge(["x"])


def test_sentiment_names_and_order() -> None:
    labels = ["neg", "neu", "pos"]
    assert [sentiment_of(x, {}, labels) for x in labels] == ["negative", "neutral", "positive"]
    assert sentiment_of("LABEL_2", {}, ["LABEL_0", "LABEL_1", "LABEL_2"]) == "positive"
    assert sentiment_of("bearish", {"bearish": "negative"}, ["bearish", "bullish"]) == "negative"


def test_the_spec_sets_the_forward_pass_batch(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = _classifier(tiny_bert_dir, tmp_path / "m", ["negative", "neutral", "positive"])
    judge = load_sentiment(str(model), Workspace.resolve(tmp_path / "ws"), {}, batch_size=4)
    assert getattr(judge.predictor, "batch_size", None) == 4
    texts = [f"<t>Apple</t> post number {i}" + " long" * (i % 7) for i in range(10)]
    assert len(judge.judge(texts)) == 10  # three forward passes, results in input order
    assert [j.label for j in judge.judge(texts[:1])] == [judge.judge(texts)[0].label]
