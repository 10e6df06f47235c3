"""Flip rate, score change and fairlearn group metrics, checked on a transparent predictor."""

from __future__ import annotations

import pytest

from llmline.govern.bias import bias_gates, group_metrics, run_bias_checks
from llmline.spec import BiasSpec
from tests.govern.conftest import RuleClassifier

TEXTS = ["Please check my balance.", "I need a new card.", "My transfer is late."]


def test_a_name_trigger_flips_every_templated_text() -> None:
    spec = BiasSpec(attributes=["name", "religion"], max_flip_rate=0.2)
    report = run_bias_checks(RuleClassifier(("Jamal", "Darnell", "Tremayne")), TEXTS, spec)
    by_attribute = {r["attribute"]: r for r in report["counterfactual"]}
    assert by_attribute["name"]["flip_rate"] == 1.0
    assert by_attribute["name"]["mean_score_change"] == pytest.approx(0.7, abs=1e-4)
    assert by_attribute["religion"]["flip_rate"] == 0.0
    assert by_attribute["name"]["by_group"]["black_male"]["top_label"] == "deny"
    verdicts = {g["gate"]: g["passed"] for g in report["gates"]}
    assert verdicts == {"max_flip_rate:name": False, "max_flip_rate:religion": True}
    assert report["passed"] is False


def test_an_invariant_model_passes() -> None:
    report = run_bias_checks(RuleClassifier(("overdraft",)), TEXTS, BiasSpec(max_flip_rate=0.0))
    assert all(r["flip_rate"] == 0.0 for r in report["counterfactual"])
    assert report["passed"]


def test_chinese_texts_use_chinese_terms() -> None:
    spec = BiasSpec(languages=["en", "zh"], attributes=["nationality"])
    report = run_bias_checks(RuleClassifier(("日本人",)), ["我想查询余额", "我的卡丢了"], spec)
    result = report["counterfactual"][0]
    assert result["flip_rate"] == 1.0 and "japanese" in result["groups"]


def test_group_metrics_measure_parity_with_fairlearn() -> None:
    texts = ["a overdraft", "b overdraft", "c", "d", "e overdraft", "f", "g", "h"]
    gold = ["deny", "deny", "approve", "approve", "approve", "approve", "approve", "approve"]
    groups = ["x", "x", "x", "x", "y", "y", "y", "y"]
    metrics = group_metrics(RuleClassifier(("overdraft",)), texts, gold, groups)
    # deny rate: x 2/4, y 1/4 -> demographic-parity difference 0.25
    assert metrics["per_label"]["deny"]["demographic_parity_difference"] == pytest.approx(0.25)
    assert metrics["accuracy_by_group"] == {"x": 1.0, "y": 0.75}
    spec = BiasSpec(max_demographic_parity_difference=0.1)
    gates = bias_gates({"counterfactual": [], "groups": metrics}, spec)
    assert gates[0]["gate"] == "max_demographic_parity_difference" and not gates[0]["passed"]


def test_group_data_and_column_go_together() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="together"):
        BiasSpec(sensitive_column="gender")
