"""Classification evaluation: metrics, per-class table, confusion matrix and gate verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmline.lineage import atomic_path, write_json_atomic, write_text_atomic
from llmline.spec import GateSpec


def classification_report(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    per_class = {
        label: {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    present = [label for label in labels if per_class[label]["support"] > 0]
    macro_f1 = sum(per_class[label]["f1"] for label in present) / max(len(present), 1)
    accuracy = round(float(accuracy_score(gold, predicted)), 4)
    return {
        "rows": len(gold),
        "metrics": {"accuracy": accuracy, "macro_f1": round(macro_f1, 4)},
        "primary": "accuracy",
        "accuracy": accuracy,
        "macro_f1": round(macro_f1, 4),
        "per_class": per_class,
        "labels": labels,
        "confusion_matrix": confusion_matrix(gold, predicted, labels=labels).tolist(),
    }


def check_gates(metrics: dict[str, Any], gates: Sequence[GateSpec]) -> list[dict[str, Any]]:
    """One verdict per gate: its name (min_METRIC / max_METRIC), threshold, actual, passed.

    The spec validated that every gate names a metric of the task; a metric missing from the
    report anyway (an evaluator bug) fails its gate rather than passing silently.
    """
    verdicts = []
    for gate in gates:
        actual = metrics.get(gate.metric)
        value = float("nan") if actual is None else float(actual)
        passed = actual is not None and (
            value >= gate.threshold if gate.kind == "min" else value <= gate.threshold
        )
        verdicts.append(
            {"gate": f"{gate.kind}_{gate.metric}", "metric": gate.metric, "kind": gate.kind,
             "threshold": gate.threshold, "actual": value, "passed": passed}
        )  # fmt: skip
    return verdicts


def attach_gates(report: dict[str, Any], gates: Sequence[GateSpec]) -> dict[str, Any]:
    """The report with its gate verdicts and whether all passed."""
    report["gates"] = check_gates(report["metrics"], gates)
    report["passed"] = all(g["passed"] for g in report["gates"])
    return report


def gate_lines(report: dict[str, Any]) -> list[str]:
    """One markdown bullet per gate verdict of the report."""
    return [
        f"- gate {g['gate']}: {g['actual']:.4f} vs {g['threshold']} — "
        + ("pass" if g["passed"] else "FAIL")
        for g in report.get("gates") or []
    ]


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", render_markdown(report))
    plot_confusion(report, out_dir / "confusion.png")


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Evaluation report",
        "",
        f"- rows: {report['rows']}",
        f"- accuracy: **{report['accuracy']:.4f}**",
        f"- macro-F1: **{report['macro_f1']:.4f}**",
    ]
    gates = report.get("gates") or []
    if gates:
        lines += ["", "## Gates", "", "| gate | threshold | actual | result |", "|---|---|---|---|"]
        lines += [
            f"| {g['gate']} | {g['threshold']} | {g['actual']:.4f} | "
            f"{'pass' if g['passed'] else 'FAIL'} |"
            for g in gates
        ]
    lines += ["", "## Per class", "", "| label | precision | recall | F1 | support |"]
    lines.append("|---|---|---|---|---|")
    worst_first = sorted(report["per_class"].items(), key=lambda item: item[1]["f1"])
    lines += [
        f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
        for label, m in worst_first
    ]
    lines += ["", "![confusion matrix](confusion.png)", ""]
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matrix = np.asarray(report["confusion_matrix"], dtype=float)
    labels = report["labels"]
    normalised = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    size = min(16.0, max(4.0, 0.22 * len(labels)))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(labels))
    font = 5 if len(labels) > 30 else 9
    ax.set_xticks(ticks, labels, rotation=90, fontsize=font)
    ax.set_yticks(ticks, labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (row-normalised), accuracy {report['accuracy']:.3f}")
    if len(labels) <= 12:
        for i in ticks:
            for j in ticks:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
