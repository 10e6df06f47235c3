"""Data preparation for pre-training: unlabeled text as train/validation parquet snapshots.

The generic data stage splits by label; a pre-training corpus has none, and is often a handful
of long documents (one `input.txt`). Rows are cleaned and run through the spec's data steps
(quality filters, redaction, near-dedup) like any other data, then split: many documents are
split by row, a few long ones by their tail (the last share of each document's characters,
cut at a line break), so validation text is never seen in training.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.clean import dedup_key, normalize_text
from llmline.data.record import Record
from llmline.data.stage import DataArtifact, read_snapshot, write_records
from llmline.errors import DataError
from llmline.lineage import sha256_file
from llmline.spec import DataSpec, PipelineSpec, SourceSpec

# Below this many documents a row split would leave validation empty or one odd document.
MIN_ROWS_FOR_ROW_SPLIT = 20
PLAIN_TEXT_SUFFIXES = (".txt", ".text", ".md")


def prepare_corpus(spec: PipelineSpec, out_dir: Path) -> DataArtifact:
    """Clean, filter and split the text column; the label column is not needed."""
    from llmline.data.report import write_report
    from llmline.data.steps import StepRun

    data = spec.data
    dropped: Counter[str] = Counter()
    steps = StepRun.build(data.steps)
    rows_in = Counter[str]()
    texts = _clean_texts(_read(data.source, data, "data.source", rows_in), data, steps, dropped)
    if data.validation is None:
        train, validation, how = split_corpus(texts, data.validation_fraction, seed=spec.seed)
    else:
        kept = [o for o in data.steps if o.get("step") not in ("augment", "label_rules")]
        held = StepRun.build(kept)
        validation = _clean_texts(
            _read(data.validation, data, "data.validation"), data, held, dropped
        )
        train, how = texts, "explicit"
    _require_text(train, data.source, "train")
    _require_text(validation, data.validation or data.source, "validation")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"train": out_dir / "train.parquet", "validation": out_dir / "validation.parquet"}
    write_records([Record(text=t, row=i) for i, t in enumerate(train)], paths["train"])
    write_records([Record(text=t, row=i) for i, t in enumerate(validation)], paths["validation"])
    report: dict[str, Any] = {
        "task": spec.task,
        "rows_in": rows_in["rows"],
        "rows_out": len(train) + len(validation),
        "dropped": dict(dropped.most_common()),
        "split": how,
        "train_rows": len(train),
        "validation_rows": len(validation),
        "train_chars": sum(map(len, train)),
        "validation_chars": sum(map(len, validation)),
        "labels": [],
        "steps": steps.per_step(rows_in["rows"]),
        "step_summaries": steps.summaries(),
        "sha256": {name: sha256_file(path) for name, path in paths.items()},
    }
    write_report(report, out_dir, lengths=[len(t) for t in train])
    console.print(
        f"[bold]data[/]: {rows_in['rows']} documents in, {sum(dropped.values())} dropped; "
        f"{report['train_chars']:,} train / {report['validation_chars']:,} validation "
        f"characters ({how} split)"
    )
    return DataArtifact(paths["train"], paths["validation"], [], report)


def _read(
    source: SourceSpec, data: DataSpec, key: str, counter: Counter[str] | None = None
) -> Iterator[Record]:
    """Records of the source; a plain .txt file is one document (the text_dir reader)."""
    from llmline.data.stage import read_rows

    if source.format == "auto" and source.path.suffix.lower() in PLAIN_TEXT_SUFFIXES:
        source = source.model_copy(update={"format": "text_dir"})
    return read_rows(source, data, key, counter)


def _clean_texts(
    records: Iterator[Record], data: DataSpec, steps: Any, dropped: Counter[str]
) -> list[str]:
    """Normalised texts that survive the data steps (and exact dedup when data.dedup)."""

    def cleaned() -> Iterator[Record]:
        for record in records:
            if record.dropped is None:
                record.text = normalize_text(record.text, data.clean)
                if len(record.text) < max(data.clean.min_chars, 1):
                    record.dropped = "empty" if not record.text else "too_short"
            yield record

    texts, seen = [], set()
    for record in steps.run(cleaned()):
        if record.dropped is not None:
            dropped[record.dropped] += 1
            continue
        key = dedup_key(record.text) if data.dedup else None
        if key is not None and key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        texts.append(record.text)
    return texts


def split_corpus(
    texts: list[str], fraction: float, *, seed: int
) -> tuple[list[str], list[str], str]:
    """(train, validation, how): seeded by row when there are many documents, else by tail."""
    if not texts:
        raise DataError(
            "the corpus is empty: no text left after cleaning and filtering",
            where="data.source",
            fix="check data.source.path and text_column, clean.min_chars and the data steps",
        )
    if len(texts) >= MIN_ROWS_FOR_ROW_SPLIT:
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        held = set(order[: max(1, round(len(texts) * fraction))])
        train = [t for i, t in enumerate(texts) if i not in held]
        return train, [t for i, t in enumerate(texts) if i in held], "rows"
    train, validation = [], []
    for text in texts:
        cut = _tail_cut(text, fraction)
        train.append(text[:cut])
        validation.append(text[cut:])
    return [t for t in train if t.strip()], [v for v in validation if v.strip()], "tail"


def _tail_cut(text: str, fraction: float) -> int:
    """Where the last `fraction` of the text starts, moved forward to the next line break."""
    cut = int(len(text) * (1 - fraction))
    newline = text.find("\n", cut)
    return newline + 1 if 0 <= newline < len(text) - 1 else cut


def _require_text(texts: list[str], source: SourceSpec, split: str) -> None:
    if not any(t.strip() for t in texts):
        raise DataError(
            f"the {split} split is empty",
            where=str(source.path),
            fix="give more text, raise data.validation_fraction, or set data.validation",
        )


def read_texts(snapshot: Path) -> list[str]:
    """The texts of a corpus snapshot, in order."""
    return read_snapshot(snapshot)[0]


def read_corpus_file(source: SourceSpec, *, key: str) -> list[str]:
    """The non-empty texts of a file or directory, read as the data stage reads a corpus
    (a plain .txt file is one document), without cleaning steps: for scoring a file as it is."""
    from llmline.spec import DataSpec

    data = DataSpec(source=source)
    return [r.text for r in _read(source, data, key) if r.text and r.text.strip()]
