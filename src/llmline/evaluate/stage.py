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
    spec: PipelineSpec, model_dir: Path, snapshot: Path, out_dir: Path,
    base_dir: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Score the validation snapshot with the task's evaluator, attach the gate verdicts,
    write the task's report files; with base_dir (`evaluate.compare_base`) also score the base
    model on the same rows and report both."""
    from llmline.tasks import EvalOptions, get_task

    task = get_task(spec.task)
    options = EvalOptions(batch_size=spec.evaluate.batch_size, seed=spec.seed)
    rows = task.read_snapshot(snapshot)
    report = task.evaluate(model_dir, rows, options)
    attach_gates(report, spec.evaluate.gates)
    if base_dir is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            before = task.evaluate(base_view(base_dir, model_dir, Path(tmp)), rows, options)
        report["base"] = {"model": spec.train.base_model, "metrics": before["metrics"]}
        report["change"] = {
            k: round(float(v) - float(before["metrics"][k]), 4)
            for k, v in report["metrics"].items() if k in before["metrics"]
        }  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    task.write_report(report, out_dir)
    if base_dir is not None:
        _append_base_section(report, out_dir / "report.md")
    if report["gates"]:
        verdict = "all gates pass" if report["passed"] else "a gate FAILED"
        console.print(f"[bold]evaluate[/]: {verdict}")
    return report


def base_view(base_dir: Path, model_dir: Path, into: Path) -> Path:
    """The base model's files under the tuned model's llmline_model.json (links, no copies),
    so the base is loaded as the same task with the same generation settings and length."""
    import json

    from llmline.models.meta import MODEL_META

    for path in base_dir.iterdir():
        if path.name != MODEL_META:
            (into / path.name).symlink_to(path.resolve())
    meta = json.loads((model_dir / MODEL_META).read_text(encoding="utf-8"))
    meta["extra"] = {k: v for k, v in meta.get("extra", {}).items() if k not in ("base", "peft")}
    (into / MODEL_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return into


def _append_base_section(report: dict[str, Any], path: Path) -> None:
    from llmline.lineage import write_text_atomic

    lines = ["", f"## Before and after tuning (base model `{report['base']['model']}`)", "",
             "| metric | base | tuned | change |", "|---|---|---|---|"]  # fmt: skip
    for name, change in report["change"].items():
        lines.append(f"| {name} | {report['base']['metrics'][name]:.4f} | "
                     f"{report['metrics'][name]:.4f} | {change:+.4f} |")  # fmt: skip
    write_text_atomic(path, path.read_text(encoding="utf-8") + "\n".join(lines) + "\n")
