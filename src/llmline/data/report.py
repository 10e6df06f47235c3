"""The data report: `data_report.json` + `.md` + plots (label distribution, text lengths).

Rows in/out per step with drop reasons, duplicates and clusters, PII counts by type, labeling
coverage and suspected label errors: every decision the data stage made, counted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from llmline.data.record import Record
from llmline.lineage import atomic_path, write_json_atomic, write_text_atomic


def length_stats(records: list[Record]) -> dict[str, float]:
    lengths = [len(r.text) for r in records]
    return {
        "min": min(lengths, default=0),
        "mean": round(sum(lengths) / max(len(lengths), 1), 1),
        "max": max(lengths, default=0),
    }


def label_counts(records: list[Record]) -> dict[str, int]:
    return dict(Counter(str(r.label) for r in records).most_common())


def write_report(
    report: dict[str, Any], out_dir: Path, *, lengths: list[int] | None = None
) -> None:
    write_json_atomic(out_dir / "data_report.json", report)
    write_text_atomic(out_dir / "data_report.md", render_markdown(report))
    if report.get("label_counts", {}).get("train"):
        _plot_labels(report["label_counts"]["train"], out_dir / "data_report.png")
    if lengths:
        _plot_lengths(lengths, out_dir / "data_lengths.png")


def render_markdown(report: dict[str, Any]) -> str:
    lines = ["# Data report", ""]
    lines += [f"- rows in: {report.get('rows_in', 0)}", f"- rows out: {report.get('rows_out', 0)}"]
    if "train_rows" in report:
        lines.append(
            f"- split: {report['train_rows']} train, {report['validation_rows']} validation"
        )
    if "labels" in report:
        lines.append(f"- labels: {len(report['labels'])}")
    if "text_chars" in report:
        lines.append(f"- text length (chars, train): {report['text_chars']}")
    lines += _reading_section(report.get("reading", []))
    lines += ["", "## Dropped rows by reason", "", "| reason | rows |", "|---|---|"]
    lines += [f"| {reason} | {n} |" for reason, n in report.get("dropped", {}).items()]
    if report.get("steps"):
        lines += ["", "## Rows per step", "", "| step | in | out | dropped |", "|---|---|---|---|"]
        for step in report["steps"]:
            dropped = ", ".join(f"{k} {v}" for k, v in step["dropped"].items()) or "-"
            lines.append(f"| {step['step']} | {step['rows_in']} | {step['rows_out']} | {dropped} |")
    lines += _step_sections(report.get("step_summaries", {}))
    lines += _label_sections(report)
    return "\n".join(lines) + "\n"


def _reading_section(reading: list[dict[str, Any]]) -> list[str]:
    """Per file: physical records = read + rejected, with reasons, lines and flags."""
    if not reading:
        return []
    lines = ["", "## Reading", "",
             "| source | file | encoding | records | read | rejected | blank lines |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for tally in reading:
        lines.append(f"| {tally['key']} | {tally['path']} | {tally.get('encoding') or '-'} | "
                     f"{tally['records']} | {tally['read']} | "
                     f"{sum(tally['rejected'].values())} | {tally['blank_lines']} |")  # fmt: skip
    lines.append("")
    for tally in reading:
        for reason, n in tally["rejected"].items():
            shown = ", ".join(map(str, tally["rejected_lines"].get(reason, [])))
            lines.append(f"- {tally['path']}: {n} rejected as `{reason}` (lines {shown})")
        for row in tally["long_rows"][:10]:
            at = f"line {row['line']}" if row["line"] else f"record {row['record']}"
            lines.append(f"- {tally['path']}: implausibly long row at {at} "
                         f"({row['chars']} chars over {row['lines']} lines)")  # fmt: skip
        if tally["literal_quotes"]:
            shown = ", ".join(map(str, tally["literal_quote_lines"]))
            lines.append(f"- {tally['path']}: {tally['literal_quotes']} rows with quotes "
                         f"taken literally (lines {shown})")  # fmt: skip
        if tally.get("truncated_bytes"):
            lines.append(f"- {tally['path']}: ends inside a character; "
                         f"{tally['truncated_bytes']} bytes dropped")  # fmt: skip
        if tally.get("limited"):
            lines.append(f"- {tally['path']}: reading stopped at data.max_rows")
    return lines


def _step_sections(summaries: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    dedup = summaries.get("near_dedup")
    if dedup:
        lines += ["", "## Near-duplicates", "",
                  f"- near-duplicates: {dedup['near_duplicates']} in "
                  f"{dedup['clusters_with_duplicates']} clusters "
                  f"(largest: {dedup['largest_clusters'][:5]})", ""]  # fmt: skip
        for example in dedup.get("examples", []):
            lines.append(f"- J={example['jaccard']}: `{_short(example['kept'])}` ~ "
                         f"`{_short(example['duplicate'])}`")  # fmt: skip
    pii = summaries.get("redact")
    if pii:
        lines += ["", "## PII redacted", "", f"- rows with PII: {pii['rows_with_pii']}", "",
                  "| type | found |", "|---|---|"]  # fmt: skip
        lines += [f"| {kind} | {n} |" for kind, n in pii["pii_by_type"].items()]
    rules = summaries.get("label_rules")
    if rules:
        lines += ["", "## Labeling functions", "",
                  f"- coverage {rules['coverage']}, conflicts {rules['conflicts']}, "
                  f"labeled {rules['labeled']}"]  # fmt: skip
    augment = summaries.get("augment")
    if augment:
        lines += ["", "## Augmentation", "", f"- augmented rows: {augment['augmented_rows']} "
                  f"({augment['by_op']}); train only"]  # fmt: skip
    counterfactual = summaries.get("counterfactual")
    if counterfactual:
        lines += ["", "## Counterfactual augmentation (bias mitigation)", "",
                  f"- copies: {counterfactual['counterfactual_rows']} (swapped "
                  f"{counterfactual['swapped']}, templated {counterfactual['templated']}; "
                  f"{counterfactual['by_attribute']}); train only"]  # fmt: skip
    return lines


def _label_sections(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    counts = report.get("label_counts")
    if counts:
        lines += [
            "",
            "## Label distribution",
            "",
            "| label | train | validation |",
            "|---|---|---|",
        ]
        for label in report.get("labels", []):
            lines.append(f"| {label} | {counts['train'].get(label, 0)} | "
                         f"{counts['validation'].get(label, 0)} |")  # fmt: skip
    issues = report.get("label_issues")
    if issues:
        lines += ["", f"## Suspected label errors ({len(issues)}, cleanlab)", ""]
        lines += ["| row | given | suggested | quality | text |", "|---|---|---|---|---|"]
        for issue in issues[:20]:
            lines.append(f"| {issue['row']} | {issue['given']} | {issue['suggested']} | "
                         f"{issue['quality']} | {_short(issue['text'])} |")  # fmt: skip
    return lines


def _short(text: str, size: int = 80) -> str:
    flat = " ".join(str(text).split()).replace("|", "/").replace("`", "'")
    return flat if len(flat) <= size else flat[: size - 1] + "…"


def _plot_labels(counts: dict[str, int], path: Path) -> None:
    plt = _pyplot()
    labels = list(counts)
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.18 * len(labels))))
    ax.barh(labels[::-1], [counts[label] for label in labels][::-1])
    ax.set_xlabel("training rows")
    ax.set_title("Label distribution (train)")
    ax.tick_params(axis="y", labelsize=6 if len(labels) > 30 else 9)
    _save(fig, path)


def _plot_lengths(lengths: list[int], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(lengths, bins=50)
    ax.set_xlabel("characters per text")
    ax.set_ylabel("rows")
    ax.set_title("Text length (train)")
    _save(fig, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _pyplot().close(fig)
