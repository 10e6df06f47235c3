"""LIME and SHAP attributions, jieba word units for Chinese, and the same shape as IG/occlusion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from llmline.errors import ModelError
from llmline.govern.explain import explain
from llmline.govern.explain_sampling import rebuild, regroup, word_units
from llmline.models.predictor import load_predictor
from tests.govern.conftest import RuleClassifier


@pytest.fixture(scope="module")
def predictor(tiny_classifier: Path) -> Any:
    return load_predictor(tiny_classifier)


@pytest.mark.parametrize("method", ["lime", "shap", "occlusion"])
def test_sampling_methods_find_the_trigger_word(method: str) -> None:
    rule = RuleClassifier(("overdraft",))
    result = explain(rule, "please raise my overdraft limit today", method=method, samples=128)
    assert result["method"] == method and result["target"] == "deny"
    assert result["top"][0] == "overdraft"
    scores = {w["word"]: w["score"] for w in result["words"]}
    assert scores["overdraft"] > 0.3 and abs(scores["please"]) < 0.05


def test_shap_values_add_up_to_the_prediction_change() -> None:
    """Efficiency: with every coalition enumerated, the values sum to f(text) - f(no words)."""
    rule = RuleClassifier(("overdraft", "loan"))
    result = explain(rule, "overdraft and loan please", method="shap", samples=64)
    total = sum(w["score"] for w in result["words"])
    assert total == pytest.approx(0.9 - 0.2, abs=1e-3)
    scores = {w["word"]: w["score"] for w in result["words"]}
    assert scores["overdraft"] == pytest.approx(scores["loan"], abs=1e-3)  # symmetric triggers


def test_chinese_is_explained_in_jieba_words() -> None:
    rule = RuleClassifier(("信用卡",))
    text = "我的信用卡昨天被盗了，请尽快帮我冻结！"
    for method in ("lime", "shap", "occlusion"):
        result = explain(rule, text, method=method, samples=128)
        words = [w["word"] for w in result["words"]]
        assert "信用卡" in words and result["top"][0] == "信用卡", method
        assert all(text[w["start"] : w["end"]] == w["word"] for w in result["words"])


def test_word_units_keep_offsets_in_mixed_text() -> None:
    text = "  我的 Visa card 被冻结了?? 账户 no. 12 "
    units = word_units(text)
    assert all(text[u["start"] : u["end"]] == u["word"] for u in units)
    assert {"Visa", "card", "冻结", "账户"} <= {u["word"] for u in units}
    assert not any(u["word"].isspace() for u in units)
    assert rebuild(text, units, [1] * len(units)) == " ".join(text.split())
    assert rebuild(text, units, [0] * len(units)) == ""
    assert word_units("") == [] and word_units("   ") == []


def test_regroup_sums_character_scores_into_words() -> None:
    units = [{"word": "信用卡", "start": 0, "end": 3}, {"word": "丢", "start": 3, "end": 4}]
    chars = [
        {"word": c, "start": i, "end": i + 1, "score": 0.1 * i} for i, c in enumerate("信用卡丢")
    ]
    assert [u["score"] for u in regroup(units, chars)] == [pytest.approx(0.3), pytest.approx(0.3)]


@pytest.mark.parametrize("method", ["lime", "shap", "ig"])
def test_tiny_model_methods_share_words(predictor: Any, method: str) -> None:
    text = "My card payment was declined twice"
    result = explain(predictor, text, method=method, steps=4, samples=32)
    assert [w["word"] for w in result["words"]] == text.split()
    assert result["method"] == ("integrated_gradients" if method == "ig" else method)
    assert result["target"] in predictor.labels and len(result["top"]) == 5


def test_ig_on_chinese_answers_in_jieba_words(predictor: Any) -> None:
    text = "我的信用卡丢了"
    words = [w["word"] for w in explain(predictor, text, method="ig", steps=4)["words"]]
    assert words == [u["word"] for u in word_units(text)] and "信用卡" in words


def test_sampling_refuses_ner_and_unknown_methods(tiny_classifier: Path) -> None:
    with pytest.raises(ModelError, match="unknown explanation method"):
        explain(RuleClassifier(("x",)), "x", method="gradcam")
    with pytest.raises(ModelError, match="at least 16 samples"):
        explain(RuleClassifier(("x",)), "x y", method="shap", samples=0)
    ner_like = RuleClassifier(("x",), task="ner")
    with pytest.raises(ModelError, match="classifiers only"):
        explain(ner_like, "x y", method="lime")


def test_explain_route_and_cli_take_lime_and_shap(
    tiny_classifier: Path, tmp_path: Path, capsys: Any
) -> None:
    from llmline.cli import main
    from llmline.serve.app import create_app

    client = TestClient(create_app(load_predictor(tiny_classifier), model_ref="m"))
    body = {"texts": ["card payment failed", "我的信用卡丢了"], "method": "lime", "samples": 32}
    answer = client.post("/v1/explain", json=body)
    assert answer.status_code == 200, answer.text
    explanations = answer.json()["explanations"]
    assert [e["method"] for e in explanations] == ["lime", "lime"]
    assert "信用卡" in [w["word"] for w in explanations[1]["words"]]
    assert client.post("/v1/explain", json={**body, "method": "anchor"}).status_code == 422
    assert client.post("/v1/explain", json={**body, "samples": 5}).status_code == 422
    code = main(
        ["explain", "--model", str(tiny_classifier), "--text", "lost card", "--method", "shap",
         "--samples", "16", "--workspace", str(tmp_path / "ws")]
    )  # fmt: skip
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["method"] == "shap" and [w["word"] for w in results[0]["words"]] == [
        "lost",
        "card",
    ]


def test_faithful_attributions_score_better_curves_than_reversed_ones() -> None:
    from llmline.govern.explain_faithfulness import curves

    rule = RuleClassifier(("overdraft",))
    text = "please raise my overdraft limit today"
    good = explain(rule, text, method="occlusion")
    result = curves(rule, text, "deny", good["words"])
    assert result["words"] == 6 and len(result["deletion"]) == 7
    assert result["deletion"][:2] == pytest.approx([0.9, 0.2])  # the trigger goes first
    assert result["insertion"][:2] == pytest.approx([0.2, 0.9])
    reversed_words = [{**w, "score": -w["score"]} for w in good["words"]]
    worse = curves(rule, text, "deny", reversed_words)
    assert result["deletion_auc"] < worse["deletion_auc"]
    assert result["insertion_auc"] > worse["insertion_auc"]
    zh = explain(RuleClassifier(("信用卡",)), "我的信用卡被盗了", method="lime", samples=64)
    zh_curves = curves(RuleClassifier(("信用卡",)), zh["text"], "deny", zh["words"])
    assert zh_curves["deletion"][1] == pytest.approx(0.2)


def test_ig_pieces_of_a_chinese_clause_reach_their_jieba_words_past_the_text_prefix() -> None:
    """A SentencePiece tokenizer (E5) makes a whole Chinese clause one "word" and the model
    reads "query: " first: the pieces must stay apart and land on the words of the text."""
    from llmline.govern.explain import _merge_pieces
    from llmline.govern.explain_sampling import regroup, word_units

    class Encoding(dict):  # the two things _merge_pieces reads from a BatchEncoding
        def word_ids(self, row: int) -> list[int | None]:
            return [None, 0, 0, 1, 1, 1, 1, None]

    text = "房间很干净"
    enc = Encoding(offset_mapping=[[(0, 0), (0, 5), (5, 6), (6, 7), (7, 9), (9, 10), (10, 12),
                                     (0, 0)]])  # fmt: skip
    scores = [9.0, 5.0, 5.0, 0.5, 0.3, 0.2, 0.4, 9.0]
    pieces = _merge_pieces(text, enc, scores, skip=len("query: "), by_word=False)
    assert [(p["word"], p["score"]) for p in pieces] == [("房间", 0.3), ("很", 0.2), ("干净", 0.4)]
    words = {w["word"]: w["score"] for w in regroup(word_units(text), pieces)}
    assert sum(words.values()) == pytest.approx(0.9) and words["房间"] == pytest.approx(0.3)
