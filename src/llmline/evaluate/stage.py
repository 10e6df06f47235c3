"""Evaluate a saved model with its task's evaluator and decide the spec's gates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.console import console
from llmline.errors import DataError
from llmline.evaluate.report import attach_gates, classification_report
from llmline.models.predictor import Predictor

if TYPE_CHECKING:
    from llmline.spec import PipelineSpec


def evaluate_texts(predictor: Predictor, texts: list[str], gold: list[str]) -> dict[str, Any]:
    """Classification scores of a predictor on labelled texts (also used by optimize and the
    retrain loop, which compare classifiers)."""
    if not texts:
        raise DataError("nothing to evaluate: the data has no rows", fix="check the data file")
    predictions = [p["label"] for p in predictor.predict(texts)]
    labels = list(predictor.labels) + sorted(set(gold) - set(predictor.labels))
    return classification_report(gold, predictions, labels)


def evaluate_snapshot(
    spec: PipelineSpec, model_dir: Path, snapshot: Path, out_dir: Path
) -> dict[str, Any]:
    """Score the validation snapshot with the task's evaluator, attach the gate verdicts,
    write the task's report files."""
    from llmline.tasks import EvalOptions, get_task

    task = get_task(spec.task)
    options = EvalOptions(batch_size=spec.evaluate.batch_size, seed=spec.seed)
    report = task.evaluate(model_dir, task.read_snapshot(snapshot), options)
    attach_gates(report, spec.evaluate.gates)
    out_dir.mkdir(parents=True, exist_ok=True)
    task.write_report(report, out_dir)
    if report["gates"]:
        verdict = "all gates pass" if report["passed"] else "a gate FAILED"
        console.print(f"[bold]evaluate[/]: {verdict}")
    return report
