"""Gates name the task's own metrics: checked at validation, decided on the report's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmline.errors import SpecError
from llmline.evaluate.report import check_gates
from llmline.spec import GateSpec, validate_spec


def _raw(task: str, gates: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"path": __file__, "label_column": None}
    return {"name": "g", "task": task, "data": {"source": source}, "evaluate": {"gates": gates}}


@pytest.mark.parametrize(
    ("task", "metric"),
    [("classification", "macro_f1"), ("ner", "entity_f1"), ("causal_lm", "exact_match"),
     ("causal_lm", "rouge_l"), ("mlm", "perplexity"), ("causal_lm_pretrain", "perplexity")],
)  # fmt: skip
def test_each_task_accepts_its_own_metric(task: str, metric: str) -> None:
    raw = _raw(task, [{"metric": metric, "min": 0.5}])
    if task == "classification":
        raw["data"]["source"]["label_column"] = "label"
    spec = validate_spec(raw)
    assert [(g.metric, g.kind, g.threshold) for g in spec.evaluate.gates] == [(metric, "min", 0.5)]


def test_a_metric_the_task_does_not_report_lists_the_valid_names() -> None:
    with pytest.raises(SpecError) as error:
        validate_spec(_raw("causal_lm", [{"metric": "accuracy", "min": 0.8}]))
    message = str(error.value)
    assert "evaluate: gates[0].metric: task causal_lm does not report 'accuracy'" in message
    assert "exact_match, rouge_l, perplexity" in message
    with pytest.raises(SpecError, match="its metrics are entity_f1"):
        validate_spec(_raw("ner", [{"metric": "exact_match", "min": 0.8}]))


def test_the_earlier_mapping_form_still_reads_and_a_bound_is_required() -> None:
    spec = validate_spec(_raw("mlm", {"max_perplexity": 30, "min_accuracy": None}))
    assert [(g.metric, g.kind, g.threshold) for g in spec.evaluate.gates] == [
        ("perplexity", "max", 30)
    ]
    with pytest.raises(SpecError, match="unknown gate 'min_f1'"):
        validate_spec(_raw("mlm", {"min_f1": 0.3}))
    with pytest.raises(SpecError, match="exactly one of min or max"):
        validate_spec(_raw("mlm", [{"metric": "perplexity", "min": 1, "max": 9}]))
    with pytest.raises(SpecError, match="does not report 'accuracy'"):  # exact match is not it
        validate_spec(_raw("causal_lm", {"min_accuracy": 0.5}))


def test_hpo_metric_must_be_a_metric_of_the_task() -> None:
    raw = _raw("ner", [])
    raw["hpo"] = {"metric": "accuracy_typo"}
    with pytest.raises(SpecError, match=r"hpo: metric: task ner does not report 'accuracy_typo'"):
        validate_spec(raw)


def test_gate_verdicts_min_max_and_a_missing_metric_fails() -> None:
    gates = [GateSpec(metric="exact_match", min=0.8), GateSpec(metric="perplexity", max=20),
             GateSpec(metric="rouge_l", min=0.1)]  # fmt: skip
    verdicts = check_gates({"exact_match": 0.8, "perplexity": 20.5}, gates)
    assert [(v["gate"], v["passed"]) for v in verdicts] == [
        ("min_exact_match", True), ("max_perplexity", False), ("min_rouge_l", False),
    ]  # fmt: skip
    assert verdicts[1] | {"actual": 0} == {"gate": "max_perplexity", "metric": "perplexity",
                                           "kind": "max", "threshold": 20, "actual": 0,
                                           "passed": False}  # fmt: skip


def test_moved_train_keys_say_where_they_went(tmp_path: Path) -> None:
    raw = _raw("ner", [])
    raw["train"] = {"label_all_tokens": True}
    with pytest.raises(SpecError, match="label_all_tokens moved from train to task_config"):
        validate_spec(raw)
    raw = _raw("ner", [])
    raw["task_config"] = {"label_all_tokenz": True}
    with pytest.raises(SpecError, match=r"label_all_tokenz: unknown key \(task ner allows: "):
        validate_spec(raw)
    raw["task_config"] = {"label_all_tokens": True}
    assert validate_spec(raw).task_config.label_all_tokens is True
    with pytest.raises(SpecError, match=r"unknown task 'nerr'.*did you mean 'ner'"):
        validate_spec({**raw, "task": "nerr"})


def test_compare_base_is_for_tasks_whose_base_answers_by_itself() -> None:
    raw = _raw("causal_lm", [])
    raw["evaluate"]["compare_base"] = True
    assert validate_spec(raw).evaluate.compare_base
    raw = _raw("ner", [])
    raw["evaluate"]["compare_base"] = True
    with pytest.raises(SpecError, match="compare_base: the base model of a ner run has no"):
        validate_spec(raw)
