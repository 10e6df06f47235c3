"""Data preparation for token classification: sentences of (tokens, tags) as parquet snapshots.

The generic data stage is built for one label per text; NER needs one tag per word, so the NER
head registers this preparation for its task. Inputs are CoNLL files or JSONL rows with either
`tokens` + `tags` lists or `text` + character-offset `entities` spans (converted to IOB2).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmline.console import console
from llmline.data.stage import DataArtifact
from llmline.errors import DataError
from llmline.lineage import atomic_path, sha256_file, write_json_atomic
from llmline.models.words import words_with_offsets
from llmline.spec import DataSpec, PipelineSpec, SourceSpec


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]


def spans_to_tags(text: str, entities: list[dict[str, Any]], *, where: str) -> Sentence:
    """IOB2 tags for the words of text from character spans {start, end, label}."""
    words = words_with_offsets(text)
    tags = ["O"] * len(words)
    for entity in entities:
        try:
            start, end, label = int(entity["start"]), int(entity["end"]), str(entity["label"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"entity {entity!r} needs integer start, end and a label",
                where=where,
                fix='write entities as [{"start": 0, "end": 5, "label": "PER"}, ...]',
            ) from None
        inside = [i for i, (_, s, e) in enumerate(words) if s < end and e > start]
        for n, i in enumerate(inside):
            tags[i] = f"{'B' if n == 0 else 'I'}-{label}"
    return Sentence([w for w, _, _ in words], tags)


@dataclass
class TaggedFile:
    """A file's sentences in IOB2, and what converting them took: tags of a broken BMES/BIOES
    sequence repaired (with their places), IOB1 starts made B-, overlapping spans dropped."""

    sentences: list[Sentence]
    repairs: list[str] = field(default_factory=list)
    iob1_starts: int = 0
    overlaps_dropped: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "repaired_sentences": len(self.repairs),
            "repairs": self.repairs[:20],
            "iob1_starts": self.iob1_starts,
            "overlapping_spans_dropped": self.overlaps_dropped,
        }


def read_tagged(source: SourceSpec, *, key: str, strict: bool = False) -> TaggedFile:
    """Sentences from a CoNLL-style file (IOB1/IOB2/BIOES/BMES/BILOU, `-` or `_`), JSONL rows
    (tokens+tags, or text+entities) or CLUENER span rows, every tag scheme converted to IOB2."""
    import llmline.data.conll
    from llmline.data.sources import SOURCES, infer_format
    from llmline.data.tag_schemes import explicit_end_scheme, to_iob2

    fmt = source.format
    if fmt == "auto":
        suffix = source.path.suffix.lower()
        fmt = "conll" if suffix in llmline.data.conll.CONLL_SUFFIXES else infer_format(source.path)
    reader = SOURCES.get(fmt, key=f"{key}.format")
    rows = [(f"{source.path}:{n}", r) for n, r in enumerate(reader(source), start=1)]
    read = TaggedFile([])
    raw = [_sentence(row, where=where, counts=read) for where, row in rows]
    explicit = explicit_end_scheme([s.tags for s in raw])
    for (where, _), sentence in zip(rows, raw, strict=True):
        conversion = to_iob2(sentence.tags, explicit_end=explicit, where=where, strict=strict)
        read.sentences.append(Sentence(sentence.tokens, conversion.tags))
        if conversion.repairs:  # one entry per sentence, its problems joined
            read.repairs.append("; ".join(conversion.repairs))
        read.iob1_starts += conversion.iob1_starts
    if read.repairs:
        console.print(
            f"[yellow]{source.path.name}: {len(read.repairs)} sentences with broken tag "
            f"sequences repaired[/] (first: {read.repairs[0]}); data.strict refuses them"
        )
    return read


def read_sentences(source: SourceSpec, *, key: str, strict: bool = False) -> Iterator[Sentence]:
    """The sentences of `read_tagged`, in IOB2."""
    yield from read_tagged(source, key=key, strict=strict).sentences


def _sentence(row: dict[str, Any], *, where: str, counts: TaggedFile) -> Sentence:
    from llmline.data.span_json import is_span_row, span_sentence

    if isinstance(row.get("tokens"), list) and isinstance(row.get("tags"), list):
        tokens, tags = [str(t) for t in row["tokens"]], [str(t) for t in row["tags"]]
        if len(tokens) != len(tags):
            raise DataError(
                f"{len(tokens)} tokens but {len(tags)} tags",
                where=where,
                fix="give exactly one tag per token",
            )
        return Sentence(tokens, tags)
    if is_span_row(row):  # CLUENER: {"text", "label": {type: {mention: [[start, end]]}}}
        spans = span_sentence(row, where=where)
        counts.overlaps_dropped += spans.overlaps_dropped
        return Sentence(spans.tokens, spans.tags)
    if isinstance(row.get("text"), str):
        return spans_to_tags(row["text"], list(row.get("entities") or []), where=where)
    raise DataError(
        "a NER row needs 'tokens' and 'tags' lists, 'text' with 'entities' spans, or CLUENER's "
        "'text' with a 'label' mapping",
        where=where,
        fix='e.g. {"text": "Ann lives in Paris", "entities": [{"start":0,"end":3,"label":"PER"}]}',
    )


def prepare_token_data(spec: PipelineSpec, out_dir: Path) -> DataArtifact:
    """Read (tags to IOB2), deduplicate and split sentences; write parquet snapshots and a data
    report that says what reading had to repair."""
    data = spec.data
    reading: dict[str, Any] = {}
    train = _load(data.source, data, "data.source", reading)
    duplicates = 0
    if data.dedup:
        train, duplicates = _dedup(train)
    if data.validation is not None:
        validation = _load(data.validation, data, "data.validation", reading)
    else:
        train, validation = _split(train, data.validation_fraction, spec.seed)
    labels = _labels(train, validation)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"train": out_dir / "train.parquet", "validation": out_dir / "validation.parquet"}
    write_sentences(train, paths["train"])
    write_sentences(validation, paths["validation"])
    report = _report(train, validation, labels, duplicates, paths) | {"reading": reading}
    write_json_atomic(out_dir / "data_report.json", report)
    console.print(
        f"[bold]data[/]: {len(train)} train / {len(validation)} validation sentences, "
        f"{duplicates} duplicates dropped, tags: {', '.join(labels)}"
    )
    return DataArtifact(paths["train"], paths["validation"], labels, report)


def _load(source: SourceSpec, data: DataSpec, key: str, reading: dict[str, Any]) -> list[Sentence]:
    tagged = read_tagged(source, key=key, strict=data.strict)
    reading[key] = tagged.summary()
    sentences = [s for s in tagged.sentences if s.tokens]
    if data.max_rows is not None:
        sentences = sentences[: data.max_rows]
    if not sentences:
        raise DataError(f"no sentences in {source.path}", where=key, fix="check the file/format")
    return sentences


def _dedup(sentences: list[Sentence]) -> tuple[list[Sentence], int]:
    seen: set[tuple[str, ...]] = set()
    kept = []
    for sentence in sentences:
        key = (*sentence.tokens, "\0", *sentence.tags)
        if key not in seen:
            seen.add(key)
            kept.append(sentence)
    return kept, len(sentences) - len(kept)


def _split(
    sentences: list[Sentence], fraction: float, seed: int
) -> tuple[list[Sentence], list[Sentence]]:
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(len(order) * fraction))
    held = set(order[:cut])
    return (
        [s for i, s in enumerate(sentences) if i not in held],
        [s for i, s in enumerate(sentences) if i in held],
    )


def _labels(train: list[Sentence], validation: list[Sentence]) -> list[str]:
    seen = {tag for s in train for tag in s.tags}
    unseen = sorted({tag for s in validation for tag in s.tags} - seen)
    if unseen:
        raise DataError(
            f"validation has tags never seen in training: {', '.join(unseen[:5])}",
            fix="add training sentences with those entity types",
        )
    if seen == {"O"}:
        raise DataError("the training data has no entities (every tag is O)", fix="check tags")
    return sorted(seen, key=lambda tag: (tag != "O", tag[2:], tag))


def write_sentences(sentences: list[Sentence], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "tokens": [s.tokens for s in sentences],
            "tags": [s.tags for s in sentences],
            "text": [" ".join(s.tokens) for s in sentences],
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_sentences_snapshot(path: Path) -> list[Sentence]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["tokens", "tags"])
    return [
        Sentence(t, g)
        for t, g in zip(
            table.column("tokens").to_pylist(), table.column("tags").to_pylist(), strict=True
        )
    ]


def _report(
    train: list[Sentence],
    validation: list[Sentence],
    labels: list[str],
    duplicates: int,
    paths: dict[str, Path],
) -> dict[str, Any]:
    def entity_counts(sentences: list[Sentence]) -> dict[str, int]:
        return dict(Counter(t[2:] for s in sentences for t in s.tags if t.startswith("B-")))

    return {
        "task": "ner",
        "train_rows": len(train),
        "validation_rows": len(validation),
        "dropped": {"duplicate": duplicates},
        "labels": labels,
        "tokens": {"train": sum(len(s.tokens) for s in train)},
        "entities": {"train": entity_counts(train), "validation": entity_counts(validation)},
        "sha256": {name: sha256_file(path) for name, path in paths.items()},
    }
