"""Evaluate a saved model on a labelled file and decide its gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.stage import read_snapshot
from llmline.errors import DataError
from llmline.evaluate.report import check_gates, classification_report, write_report
from llmline.models.predictor import Predictor
from llmline.spec import GateSpec


def evaluate_texts(predictor: Predictor, texts: list[str], gold: list[str]) -> dict[str, Any]:
    if not texts:
        raise DataError("nothing to evaluate: the data has no rows", fix="check the data file")
    predictions = [p["label"] for p in predictor.predict(texts)]
    labels = list(predictor.labels) + sorted(set(gold) - set(predictor.labels))
    return classification_report(gold, predictions, labels)


def evaluate_snapshot(
    predictor: Predictor, snapshot: Path, gates: GateSpec, out_dir: Path
) -> dict[str, Any]:
    """Score the validation snapshot, attach gate verdicts, write report.{json,md} + plot."""
    texts, gold = read_snapshot(snapshot)
    report = evaluate_texts(predictor, texts, [str(g) for g in gold])
    report["gates"] = check_gates(report, gates)
    report["passed"] = all(g["passed"] for g in report["gates"])
    write_report(report, out_dir)
    verdict = "all gates pass" if report["passed"] else "a gate FAILED"
    console.print(
        f"[bold]evaluate[/]: accuracy {report['accuracy']:.4f}, macro-F1 "
        f"{report['macro_f1']:.4f} on {report['rows']} rows — {verdict}"
    )
    return report
