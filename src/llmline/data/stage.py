"""The data stage: read, relabel, clean, run the data steps, deduplicate, split, snapshot, report.

Near-duplicate clusters (from the `near_dedup` step) are the split's groups, an explicit
validation file is decontaminated against train, and augmented copies go to train only, so no
validation text has a near-duplicate or an augmented twin in train.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from llmline.console import console, progress_bar
from llmline.data.clean import dedup_key, normalize_text
from llmline.data.dedup import NearDedupSpec
from llmline.data.record import Record
from llmline.data.report import label_counts, length_stats, write_report
from llmline.data.sources import ReadTally, read_records
from llmline.data.split import check_label_counts, stratified_group_split
from llmline.data.steps import Remote, StepRun
from llmline.errors import DataError
from llmline.lineage import atomic_path, sha256_file
from llmline.spec import DataSpec, SourceSpec

__all__ = [
    "DataArtifact",
    "prepare_data",
    "read_pair_snapshot",
    "read_snapshot",
    "write_records",
    "write_report",
]


@dataclass(frozen=True)
class DataArtifact:
    train: Path
    validation: Path
    labels: list[str]
    report: dict[str, Any]


def prepare_data(
    spec: DataSpec, out_dir: Path, *, seed: int, executor: str = "local"
) -> DataArtifact:
    """Turn the spec's raw source into train/validation parquet snapshots plus a report."""
    dropped: Counter[str] = Counter()
    steps = StepRun.build(spec.steps)
    counter = Counter[str]()
    reading: list[ReadTally] = []
    rows = read_rows(spec.source, spec, "data.source", counter, reading)
    records = list(_clean_stream(rows, spec, dropped, steps, executor))
    augmented = [r for r in records if "augmented_from" in r.meta]
    originals = [r for r in records if "augmented_from" not in r.meta]
    kept = _drop_duplicates(originals, dropped, steps.rejects) if spec.dedup else originals
    _require_rows(kept, spec.source)
    if spec.validation is None:
        train, validation = stratified_group_split(
            kept, [_group(r) for r in kept], fraction=spec.validation_fraction, seed=seed
        )
    else:
        check_label_counts(kept, minimum=1)
        train, validation = kept, _validation(spec, steps, dropped, kept, reading)
    train += _augmented_for(train, augmented)
    labels = _check_labels(train, validation)

    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, validation_path = out_dir / "train.parquet", out_dir / "validation.parquet"
    write_records(train, train_path)
    write_records(validation, validation_path)
    report = _report(counter["rows"], dropped, train, validation, labels, steps)
    report["reading"] = [tally.as_dict() for tally in reading]
    report["sha256"] = {
        "train": sha256_file(train_path),
        "validation": sha256_file(validation_path),
    }
    _redact_examples(report, spec)
    if spec.label_issues:
        report["label_issues"] = _label_issues(train, seed)
    if spec.keep_rejects:
        report["rejects"] = str(write_rejects(steps.rejects, out_dir / "rejects.jsonl", spec))
    write_report(report, out_dir, lengths=[len(r.text) for r in train])
    for tally in reading:
        _print_reading(tally)
    console.print(
        f"[bold]data[/]: {counter['rows']} rows in, {sum(dropped.values())} dropped "
        f"({_reasons(dropped)}), {len(train)} train / {len(validation)} validation, "
        f"{len(labels)} labels"
    )
    return DataArtifact(train_path, validation_path, labels, report)


def _print_reading(tally: ReadTally) -> None:
    """One line per file where reading rejected or flagged something (the report has all)."""
    if not (tally.rejected or tally.long_rows or tally.truncated_bytes):
        return
    rejected = ", ".join(
        f"{n} {reason} (line {', '.join(map(str, tally.rejected_lines.get(reason, [])[:3]))}…)"
        for reason, n in tally.rejected.most_common()
    )
    long = f"; {len(tally.long_rows)} implausibly long" if tally.long_rows else ""
    cut = f"; ends mid-character ({tally.truncated_bytes} bytes)" if tally.truncated_bytes else ""
    console.print(
        f"[yellow]read[/] {tally.path}: {tally.records} records, {tally.read} read, "
        f"{sum(tally.rejected.values())} rejected{': ' + rejected if rejected else ''}{long}{cut}"
    )


def _group(record: Record) -> str:
    cluster = record.meta.get("cluster")
    return f"cluster:{cluster}" if cluster is not None else record_key(record)


def record_key(record: Record) -> str:
    """What makes two rows duplicates: the normalised text, and for a pair row both texts."""
    key = dedup_key(record.text)
    return key if record.pair is None else f"{key}\x1f{dedup_key(record.pair)}"


def read_rows(
    source: SourceSpec,
    spec: DataSpec,
    key: str,
    counter: Counter[str] | None = None,
    reading: list[ReadTally] | None = None,
) -> Iterator[Record]:
    """The source's records, at most data.max_rows, counted into counter["rows"]; how each
    physical record was read is appended to `reading`."""
    tally = ReadTally(key, str(source.path))
    if reading is not None:
        reading.append(tally)
    records = read_records(
        source, key=key, strict=spec.strict, max_bad_fraction=spec.max_bad_fraction, tally=tally
    )
    # islice: stopping at max_rows must not pull (and count) one record more
    for record in islice(records, spec.max_rows):
        if counter is not None:
            counter["rows"] += 1
        yield record
    records.close()  # runs the reader's end-of-file accounting now, also when cut short
    tally.limited = spec.max_rows is not None and tally.records >= spec.max_rows


def _clean_stream(
    records: Iterable[Record],
    spec: DataSpec,
    dropped: Counter[str],
    steps: StepRun | None = None,
    executor: str = "local",
) -> Iterator[Record]:
    steps = steps or StepRun.build(spec.steps)
    stream = steps.run(_relabel_and_clean(records, spec), remote=_remote(executor))
    with progress_bar() as bar:
        task = bar.add_task("cleaning", total=None)
        for record in stream:
            bar.advance(task)
            if record.dropped:
                dropped[record.dropped] += 1
                continue
            yield record


def _remote(executor: str) -> Remote | None:
    """Where row-local steps run: here (None) or on Ray workers."""
    if executor == "ray":
        from llmline.data.ray_executor import run_on_ray

        return run_on_ray
    return None


def _relabel_and_clean(records: Iterable[Record], spec: DataSpec) -> Iterator[Record]:
    drop = set(spec.drop_labels)
    for record in records:
        if record.dropped is not None:
            yield record
            continue
        if record.label is not None and record.label in drop:
            record.dropped = "dropped_label"
        elif record.label is not None:
            record.label = spec.label_map.get(record.label, record.label)
        record.text = normalize_text(record.text, spec.clean)
        if record.pair is not None:  # the second text of a pair row is cleaned the same way
            record.pair = normalize_text(record.pair, spec.clean)
        texts = [record.text] if record.pair is None else [record.text, record.pair]
        shortest = min(len(text) for text in texts)
        if record.dropped is None and not shortest:
            record.dropped = "empty"
        elif record.dropped is None and shortest < spec.clean.min_chars:
            record.dropped = "too_short"
        yield record


def _validation(
    spec: DataSpec,
    steps: StepRun,
    dropped: Counter[str],
    train: list[Record],
    reading: list[ReadTally] | None = None,
) -> list[Record]:
    """The explicit validation file, cleaned by the same steps (no augmentation) and
    decontaminated: rows with an exact or near duplicate in train are dropped and counted."""
    assert spec.validation is not None
    own: Counter[str] = Counter()
    held = read_rows(spec.validation, spec, "data.validation", reading=reading)
    rows = list(_clean_stream(held, spec, own, steps.held_out()))
    _require_rows(rows, spec.validation)
    train_keys = {record_key(r) for r in train}
    near = steps.option("near_dedup")
    if near is not None:
        from llmline.data.dedup import find_contaminated

        matches = find_contaminated(
            [r.text for r in train], [r.text for r in rows], NearDedupSpec(**near)
        )
    else:
        matches = [None] * len(rows)
    clean = [
        r
        for r, m in zip(rows, matches, strict=True)
        if m is None and record_key(r) not in train_keys
    ]
    if len(clean) < len(rows):
        dropped["contaminated"] += len(rows) - len(clean)
    _require_rows(clean, spec.validation)
    return clean


def _augmented_for(train: list[Record], augmented: list[Record]) -> list[Record]:
    """Augmented copies whose source row is in train; the others would leak into validation."""
    rows = {r.row for r in train}
    return [r for r in augmented if r.meta["augmented_from"] in rows]


def _check_labels(train: list[Record], validation: list[Record]) -> list[str]:
    labels = sorted({str(r.label) for r in train})
    unseen = sorted({str(r.label) for r in validation} - set(labels))
    if unseen:
        raise DataError(
            f"validation has labels never seen in training: {', '.join(unseen[:5])}",
            fix="add training examples for them or drop them with data.drop_labels",
        )
    return labels


def _drop_duplicates(
    records: list[Record], dropped: Counter[str], rejects: list[Record] | None = None
) -> list[Record]:
    seen: set[str] = set()
    kept = []
    for record in records:
        key = record_key(record)
        if key in seen:
            dropped["duplicate"] += 1
            if rejects is not None:
                record.dropped = "duplicate"
                rejects.append(record)
            continue
        seen.add(key)
        kept.append(record)
    return kept


def _require_rows(records: list[Record], source: SourceSpec) -> None:
    if not records:
        raise DataError(
            f"no usable rows left in {source.path} after cleaning",
            fix="check text_column, drop_labels, clean.min_chars and the quality filters",
        )


def _label_issues(train: list[Record], seed: int) -> list[dict[str, Any]]:
    from llmline.data.active import find_label_issues

    originals = [r for r in train if "augmented_from" not in r.meta]
    issues = find_label_issues(
        [r.text for r in originals], [str(r.label) for r in originals], seed=seed
    )
    for issue in issues:
        issue["row"] = originals[issue["row"]].row
    return issues


def _redactor(spec: DataSpec) -> Any:
    """The spec's redactor, for text written outside the step stream (rejects, examples)."""
    redact = next((dict(o) for o in spec.steps if o.get("step") == "redact"), None)
    if redact is None:
        return None
    from llmline.data.pii import Redactor

    redact.pop("step")
    return Redactor(**redact)


def _redact_examples(report: dict[str, Any], spec: DataSpec) -> None:
    redactor = _redactor(spec)
    dedup = report["step_summaries"].get("near_dedup")
    if redactor is None or not dedup:
        return
    for example in dedup["examples"]:
        example["kept"] = redactor.redact(example["kept"])[0]
        example["duplicate"] = redactor.redact(example["duplicate"])[0]


def write_rejects(rejects: list[Record], path: Path, spec: DataSpec) -> Path:
    """Dropped rows as JSONL, redacted first when the spec redacts (nothing raw is written)."""
    redactor = _redactor(spec)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for record in rejects:
            text = redactor.redact(record.text)[0] if redactor else record.text
            row = {
                "source_row": record.row,
                "reason": record.dropped,
                "text": text,
                "label": record.label,
            }
            row["dropped_by"] = record.meta.get("dropped_by")
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path


def write_records(records: list[Record], path: Path) -> None:
    """Snapshot records as parquet (text, label, source row, and `pair` for pair rows),
    atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {
        "text": [r.text for r in records],
        "label": [r.label for r in records],
        "source_row": [r.row for r in records],
    }
    if any(r.pair is not None for r in records):
        columns["pair"] = [r.pair for r in records]
    table = pa.table(columns)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_snapshot(path: Path) -> tuple[list[str], list[str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["text", "label"])
    return table.column("text").to_pylist(), table.column("label").to_pylist()


def read_pair_snapshot(path: Path) -> tuple[list[str], list[str], list[str | None]]:
    """(first texts, second texts, labels) of a snapshot written from pair rows."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "pair" not in table.column_names:
        raise DataError(
            f"{path} holds single texts, not pairs",
            fix="set data.source.pair_column to the column of the second text",
        )
    return (
        table.column("text").to_pylist(),
        table.column("pair").to_pylist(),
        table.column("label").to_pylist(),
    )


def _reasons(dropped: Counter[str]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in dropped.most_common()) or "none"


def _report(
    rows_in: int,
    dropped: Counter[str],
    train: list[Record],
    validation: list[Record],
    labels: list[str],
    steps: StepRun,
) -> dict[str, Any]:
    return {
        "rows_in": rows_in,
        "rows_out": len(train) + len(validation),
        "dropped": dict(dropped.most_common()),
        "train_rows": len(train),
        "validation_rows": len(validation),
        "augmented_train_rows": sum("augmented_from" in r.meta for r in train),
        "labels": labels,
        "label_counts": {"train": label_counts(train), "validation": label_counts(validation)},
        "text_chars": length_stats(train),
        "steps": steps.per_step(rows_in),
        "step_summaries": steps.summaries(),
    }
