"""The data stage: read, relabel, clean, filter, deduplicate, split, snapshot, report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.data.clean import dedup_key, normalize_text
from llmline.data.record import DATA_STEPS, Record
from llmline.data.sources import read_records
from llmline.data.split import check_label_counts, stratified_group_split
from llmline.errors import DataError
from llmline.lineage import atomic_path, sha256_file, write_json_atomic, write_text_atomic
from llmline.spec import DataSpec, SourceSpec


@dataclass(frozen=True)
class DataArtifact:
    train: Path
    validation: Path
    labels: list[str]
    report: dict[str, Any]


def prepare_data(spec: DataSpec, out_dir: Path, *, seed: int) -> DataArtifact:
    """Turn the spec's raw source into train/validation parquet snapshots plus a report."""
    dropped: Counter[str] = Counter()
    records = list(_clean_stream(_read(spec.source, spec, "data.source"), spec, dropped))
    rows_in = len(records) + sum(dropped.values())
    if spec.validation is None:
        kept = _drop_duplicates(records, dropped) if spec.dedup else records
        _require_rows(kept, spec.source)
        groups = [dedup_key(r.text) for r in kept]
        train, validation = stratified_group_split(
            kept, groups, fraction=spec.validation_fraction, seed=seed
        )
    else:
        train = _drop_duplicates(records, dropped) if spec.dedup else records
        _require_rows(train, spec.source)
        check_label_counts(train, minimum=1)
        raw_validation = _read(spec.validation, spec, "data.validation")
        validation = list(_clean_stream(raw_validation, spec, Counter()))
        _require_rows(validation, spec.validation)

    labels = sorted({str(r.label) for r in train})
    unseen = sorted({str(r.label) for r in validation} - set(labels))
    if unseen:
        raise DataError(
            f"validation has labels never seen in training: {', '.join(unseen[:5])}",
            fix="add training examples for them or drop them with data.drop_labels",
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, validation_path = out_dir / "train.parquet", out_dir / "validation.parquet"
    write_records(train, train_path)
    write_records(validation, validation_path)
    report = _report(rows_in, dropped, train, validation, train_path, validation_path, labels)
    write_report(report, out_dir)
    console.print(
        f"[bold]data[/]: {rows_in} rows in, {sum(dropped.values())} dropped "
        f"({_reasons(dropped)}), {len(train)} train / {len(validation)} validation, "
        f"{len(labels)} labels"
    )
    return DataArtifact(train_path, validation_path, labels, report)


def _read(source: SourceSpec, spec: DataSpec, key: str) -> Iterator[Record]:
    records = read_records(source, key=key)
    for index, record in enumerate(records):
        if spec.max_rows is not None and index >= spec.max_rows:
            return
        yield record


def _clean_stream(
    records: Iterable[Record], spec: DataSpec, dropped: Counter[str]
) -> Iterator[Record]:
    stream: Iterable[Record] = _relabel_and_clean(records, spec)
    for index, step_options in enumerate(spec.steps):
        options = dict(step_options)
        name = str(options.pop("step", ""))
        factory = DATA_STEPS.get(name, key=f"data.steps[{index}].step")
        stream = factory(**options)(stream)
    with progress_bar() as bar:
        task = bar.add_task("cleaning", total=None)
        for record in stream:
            bar.advance(task)
            if record.dropped:
                dropped[record.dropped] += 1
                continue
            yield record


def _relabel_and_clean(records: Iterable[Record], spec: DataSpec) -> Iterator[Record]:
    drop = set(spec.drop_labels)
    for record in records:
        if record.label is not None and record.label in drop:
            record.dropped = "dropped_label"
        elif record.label is not None:
            record.label = spec.label_map.get(record.label, record.label)
        record.text = normalize_text(record.text, spec.clean)
        if record.dropped is None and not record.text:
            record.dropped = "empty"
        elif record.dropped is None and len(record.text) < spec.clean.min_chars:
            record.dropped = "too_short"
        yield record


def _drop_duplicates(records: list[Record], dropped: Counter[str]) -> list[Record]:
    seen: set[str] = set()
    kept = []
    for record in records:
        key = dedup_key(record.text)
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        kept.append(record)
    return kept


def _require_rows(records: list[Record], source: SourceSpec) -> None:
    if not records:
        raise DataError(
            f"no usable rows left in {source.path} after cleaning",
            fix="check text_column, drop_labels and clean.min_chars",
        )


def write_records(records: list[Record], path: Path) -> None:
    """Snapshot records as parquet (text, label, source row), atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "text": [r.text for r in records],
            "label": [r.label for r in records],
            "source_row": [r.row for r in records],
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_snapshot(path: Path) -> tuple[list[str], list[str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["text", "label"])
    return table.column("text").to_pylist(), table.column("label").to_pylist()


def _reasons(dropped: Counter[str]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in dropped.most_common()) or "none"


def _report(
    rows_in: int,
    dropped: Counter[str],
    train: list[Record],
    validation: list[Record],
    train_path: Path,
    validation_path: Path,
    labels: list[str],
) -> dict[str, Any]:
    lengths = [len(r.text) for r in train]
    return {
        "rows_in": rows_in,
        "rows_out": len(train) + len(validation),
        "dropped": dict(dropped.most_common()),
        "train_rows": len(train),
        "validation_rows": len(validation),
        "labels": labels,
        "label_counts": {
            "train": dict(Counter(str(r.label) for r in train).most_common()),
            "validation": dict(Counter(str(r.label) for r in validation).most_common()),
        },
        "text_chars": {
            "min": min(lengths, default=0),
            "mean": round(sum(lengths) / max(len(lengths), 1), 1),
            "max": max(lengths, default=0),
        },
        "sha256": {"train": sha256_file(train_path), "validation": sha256_file(validation_path)},
    }


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    write_json_atomic(out_dir / "data_report.json", report)
    lines = [
        "# Data report",
        "",
        f"- rows in: {report['rows_in']}",
        f"- rows out: {report['rows_out']} "
        f"({report['train_rows']} train, {report['validation_rows']} validation)",
        f"- labels: {len(report['labels'])}",
        f"- text length (chars, train): {report['text_chars']}",
        "",
        "## Dropped rows by reason",
        "",
        "| reason | rows |",
        "|---|---|",
        *[f"| {reason} | {n} |" for reason, n in report["dropped"].items()],
        "",
        "## Label distribution",
        "",
        "| label | train | validation |",
        "|---|---|---|",
        *[
            f"| {label} | {report['label_counts']['train'].get(label, 0)} | "
            f"{report['label_counts']['validation'].get(label, 0)} |"
            for label in report["labels"]
        ],
        "",
    ]
    write_text_atomic(out_dir / "data_report.md", "\n".join(lines))
    _plot_labels(report, out_dir / "data_report.png")


def _plot_labels(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = report["label_counts"]["train"]
    labels = list(counts)
    height = max(3.0, 0.18 * len(labels))
    fig, ax = plt.subplots(figsize=(7, height))
    ax.barh(labels[::-1], [counts[label] for label in labels][::-1])
    ax.set_xlabel("training rows")
    ax.set_title("Label distribution (train)")
    ax.tick_params(axis="y", labelsize=6 if len(labels) > 30 else 9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
