"""`llmline monitor report`: traffic, drift and alerts of a window as Markdown + HTML with plots."""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.lineage import write_json_atomic, write_text_atomic
from llmline.monitor.alerts import AlertResult
from llmline.monitor.drift import DRIFT_TESTS, Window, operational
from llmline.monitor.reference import Reference

_TOP_LABELS = 15


def build_report(
    window: Window,
    reference: Reference | None,
    alerts: list[AlertResult],
    out_dir: Path,
    *,
    title: str,
) -> dict[str, Any]:
    """Compute every drift test and the operational metrics, draw plots, write md/html/json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = operational(window)
    if reference is not None and window.predictions:
        for name in DRIFT_TESTS.names():
            metrics.update(DRIFT_TESTS.get(name)(reference, window))
    plots = _plots(window, reference, out_dir)
    summary = {
        "title": title,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "metrics": {k: round(v, 6) for k, v in metrics.items()},
        "alerts": [a.__dict__ for a in alerts],
        "plots": plots,
    }
    write_json_atomic(out_dir / "report.json", summary)
    write_text_atomic(out_dir / "report.md", _markdown(summary))
    write_text_atomic(out_dir / "report.html", _html(summary))
    firing = sum(a.firing for a in alerts)
    console.print(
        f"[bold]monitor report[/]: {int(metrics['requests'])} requests, "
        f"{firing} alert(s) firing — {out_dir / 'report.html'}"
    )
    return summary


def _plots(window: Window, reference: Reference | None, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = window.predictions
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    current = Counter(r["label"] for r in rows)
    ref_counts = reference.label_counts if reference else {}
    labels = [lb for lb, _ in (current + Counter(ref_counts)).most_common(_TOP_LABELS)]
    positions = range(len(labels))
    share = lambda counts, lb: counts.get(lb, 0) / max(sum(counts.values()), 1)  # noqa: E731
    axes[0][0].barh(
        [p + 0.2 for p in positions],
        [share(ref_counts, lb) for lb in labels],
        0.4,
        label="reference",
    )
    axes[0][0].barh(
        [p - 0.2 for p in positions], [share(current, lb) for lb in labels], 0.4, label="window"
    )
    axes[0][0].set_yticks(list(positions), labels, fontsize=7)
    axes[0][0].set_title("predicted label share")
    axes[0][0].legend()
    _hist(
        axes[0][1],
        [r["confidence"] for r in rows],
        reference.confidence if reference else [],
        "confidence",
    )
    _hist(
        axes[1][0],
        [r["input_chars"] for r in rows],
        reference.length if reference else [],
        "input length (chars)",
    )
    axes[1][1].plot(
        [r["ts"] - window.rows[0]["ts"] for r in window.rows] if window.rows else [],
        [r["latency_ms"] for r in window.rows],
        ".",
        markersize=2,
    )
    axes[1][1].set_title("latency (ms) over the window (s)")
    figure.tight_layout()
    figure.savefig(out_dir / "drift.png", dpi=90)
    plt.close(figure)
    return ["drift.png"]


def _hist(axis: Any, current: Sequence[float], reference: Sequence[float], title: str) -> None:
    if reference:
        axis.hist(reference, bins=30, alpha=0.5, density=True, label="reference")
    if current:
        axis.hist(current, bins=30, alpha=0.5, density=True, label="window")
    axis.set_title(title)
    axis.legend()


def _markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# {summary['title']}",
        "",
        f"Generated {summary['generated']}.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.4g} |" for k, v in summary["metrics"].items()]
    lines += [
        "",
        "## Alerts",
        "",
        "| rule | metric | value | condition | window | firing |",
        "|---|---|---|---|---|---|",
    ]
    for a in summary["alerts"]:
        lines.append(
            f"| {a['rule']} | {a['metric']} | {_fmt(a['value'])} | {a['op']} {a['threshold']} | "
            f"{a['window']} | {'FIRING' if a['firing'] else 'ok'} {a['note']} |"
        )
    lines += ["", *[f"![{p}]({p})" for p in summary["plots"]], ""]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _html(summary: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in summary["metrics"].items()
    )
    alerts = "".join(
        f"<tr><td>{html.escape(a['rule'])}</td><td>{html.escape(a['metric'])}</td>"
        f"<td>{_fmt(a['value'])}</td>"
        f"<td>{html.escape(a['op'])} {a['threshold']}</td>"
        f"<td>{'<b>FIRING</b>' if a['firing'] else 'ok'} {html.escape(a['note'])}</td></tr>"
        for a in summary["alerts"]
    )
    images = "".join(
        f'<img src="{html.escape(p)}" style="max-width:100%">' for p in summary["plots"]
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(summary['title'])}"
        f"</title></head><body><h1>{html.escape(summary['title'])}</h1>"
        f"<p>Generated {summary['generated']}</p><table border=1>{rows}</table>"
        f"<h2>Alerts</h2><table border=1>{alerts}</table>{images}</body></html>"
    )
