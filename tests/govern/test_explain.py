"""Attributions: Integrated Gradients on classifiers and NER, occlusion fallback, HTML, API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.errors import ModelError
from llmline.govern.explain import explain, render_html, split_words
from llmline.models.predictor import load_predictor
from tests.govern.conftest import RuleClassifier


@pytest.fixture(scope="module")
def predictor(tiny_classifier: Path) -> Any:
    return load_predictor(tiny_classifier)


def test_integrated_gradients_scores_whole_words(predictor: Any) -> None:
    text = "My unbelievably expensive card payment"
    result = explain(predictor, text, steps=8)
    assert result["method"] == "integrated_gradients"
    assert [w["word"] for w in result["words"]] == text.split()  # word pieces merged
    assert all(text[w["start"] : w["end"]] == w["word"] for w in result["words"])
    assert result["target"] in predictor.labels and "convergence_delta" in result
    assert any(w["score"] != 0 for w in result["words"])


def test_explaining_another_label_and_unknown_labels(predictor: Any) -> None:
    assert explain(predictor, "card payment", target="other", steps=4)["target"] == "other"
    with pytest.raises(ModelError, match="not one of"):
        explain(predictor, "card payment", target="nope")


def test_occlusion_fallback_for_models_captum_cannot_wrap() -> None:
    rule = RuleClassifier(("overdraft",))
    result = explain(rule, "raise my overdraft please")
    assert result["method"] == "occlusion" and result["top"][0] == "overdraft"
    scores = {w["word"]: w["score"] for w in result["words"]}
    assert scores["overdraft"] == pytest.approx(0.7) and scores["please"] == 0.0
    with pytest.raises(ModelError, match="occlusion"):
        explain(rule, "x", method="integrated_gradients")


def test_chinese_words_are_characters() -> None:
    assert [w["word"] for w in split_words("卡丢了 card!")] == ["卡", "丢", "了", "card", "!"]


def test_html_view_escapes_and_shades() -> None:
    item = {
        "text": "<b>bad</b> card",
        "target": "x<y",
        "method": "occlusion",
        "words": [
            {"word": "bad", "start": 3, "end": 6, "score": -0.5},
            {"word": "card", "start": 11, "end": 15, "score": 1.0},
        ],
    }
    page = render_html([item])
    assert "&lt;b&gt;" in page and "x&lt;y" in page and "<b>" not in page
    assert "rgba(220,38,38,0.50)" in page and "rgba(22,163,74,1.00)" in page


@pytest.fixture(scope="module")
def tiny_ner_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random token classifier whose bias makes every word B-PER: entities to explain."""
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from llmline.models.meta import ModelMeta
    from llmline.models.ner import label_config

    labels = ["O", "B-PER", "I-PER"]
    directory = tmp_path_factory.mktemp("tiny-ner")
    model = BertForTokenClassification.from_pretrained(tiny_bert_dir, **label_config(labels))
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.0, 50.0, 0.0]))
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(directory)
    ModelMeta(labels=labels, max_length=32, task="ner").save(directory)
    return directory


def test_ner_explains_one_entity(tiny_ner_dir: Path) -> None:
    ner = load_predictor(tiny_ner_dir)
    result = explain(ner, "Angela Merkel visited Paris", entity=1, steps=4)
    assert result["entity"]["text"] == "Merkel" and result["target"] == "B-PER"
    assert [w["word"] for w in result["words"]] == ["Angela", "Merkel", "visited", "Paris"]
    with pytest.raises(ModelError, match="out of range"):
        explain(ner, "Angela", entity=3)


def test_explain_route_json_html_and_scope(tiny_classifier: Path) -> None:
    from llmline.serve.app import create_app
    from llmline.serve.auth import KeyStore

    keys = KeyStore([])
    reader = keys.create("reader", scopes=["classify"], rate_per_s=None, burst=5)
    auditor = keys.create("auditor", scopes=["explain"], rate_per_s=None, burst=5)
    client = TestClient(create_app(load_predictor(tiny_classifier), model_ref="m", keys=keys))
    body = {"texts": ["card payment failed"], "steps": 4}
    assert client.post("/v1/explain", json=body).status_code == 401
    denied = client.post("/v1/explain", json=body, headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    auth = {"Authorization": f"Bearer {auditor}"}
    answer = client.post("/v1/explain", json=body, headers=auth)
    assert answer.status_code == 200
    words = answer.json()["explanations"][0]["words"]
    assert [w["word"] for w in words] == ["card", "payment", "failed"]
    page = client.post("/v1/explain", json={**body, "format": "html"}, headers=auth)
    assert page.headers["content-type"].startswith("text/html") and "<span" in page.text
    too_many = client.post("/v1/explain", json={"texts": ["a"] * 9}, headers=auth)
    assert too_many.status_code == 422
    bad = client.post("/v1/explain", json={**body, "target": "nope"}, headers=auth)
    assert bad.status_code == 400 and "not one of" in bad.json()["detail"]


def test_cli_explain_writes_json_and_html(
    tiny_classifier: Path, tmp_path: Path, capsys: Any
) -> None:
    from llmline.cli import main

    page = tmp_path / "why.html"
    code = main(
        [
            "explain",
            "--model",
            str(tiny_classifier),
            "--text",
            "lost card",
            "--steps",
            "4",
            "--html",
            str(page),
            "--workspace",
            str(tmp_path / "ws"),
        ]
    )
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["words"][1]["word"] == "card" and page.read_text().startswith("<!doctype")
