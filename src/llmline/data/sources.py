"""Readers that turn a file into Records; each format registers itself by its short name.

Every physical record is accounted for: read, or rejected with a reason and its line, in a
`ReadTally` that goes into the data report (records = read + rejected).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from llmline.data.delimited import (
    ERROR_KEY,
    LINE_KEY,
    NOTE_KEY,
    attach_notes,
    read_delimited,
    split_lines,
)
from llmline.data.encoding import Decoded, decode
from llmline.data.record import Record
from llmline.errors import DataError
from llmline.spec import SourceSpec
from llmline.variants import Registry

Reader = Callable[[SourceSpec], Iterator[dict[str, Any]]]
SOURCES: Registry[Reader] = Registry("data format")
# Modules whose readers register themselves; imported on first use to keep the CLI light.
# llmline.watch.corpora: the finance sentiment corpora (phrasebank, finfe, fiqa) as published.
READER_MODULES = ("llmline.data.documents", "llmline.data.labelstudio", "llmline.watch.corpora")
# A reader yields {ERROR_KEY: message, "reason": code, "where": ...} for a record it cannot
# read; read_records rejects and counts it (or aborts when strict), so one bad row never stops
# a long job silently. Rows may carry LINE_KEY (their line, or first and last line) and
# NOTE_KEY (facts about the file: encoding, blank lines), which read_records takes off.
__all__ = ["ERROR_KEY", "LINE_KEY", "NOTE_KEY", "SOURCES", "ReadTally", "read_records"]
LONG_ROW_FACTOR = 20  # a row this many times the median length ...
LONG_ROW_MIN_CHARS = 5_000  # ... and at least this long is flagged as implausible
LONG_ROW_MAX_LINES = 50  # as is one record spanning more physical lines than this
MAX_LINES_LISTED = 20

_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".html": "html",
    ".htm": "html",
    ".eml": "email",
}


def load_readers() -> None:
    """Import the modules whose readers register themselves (once; cheap after that)."""
    import importlib

    for module in READER_MODULES:
        importlib.import_module(module)


def infer_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    if path.is_dir():
        return "text_dir"
    if path.suffix.lower() == ".json" and _is_label_studio(path):
        return "label_studio"
    if suffixes and suffixes[-1] in _BY_SUFFIX:
        return _BY_SUFFIX[suffixes[-1]]
    raise DataError(
        f"cannot tell the format of {str(path)!r} from its extension",
        fix=f"set format: to one of {', '.join(SOURCES.names())}",
    )


def _is_label_studio(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith(b"[") and b'"data"' in head


def open_text(path: Path, encoding: str | None) -> str:
    """Read a possibly compressed text file, detecting the encoding when none is given."""
    return read_text(path, encoding).text


def read_text(path: Path, encoding: str | None) -> Decoded:
    """The decoded text of a file and the encoding it was read in."""
    raw = _read_bytes(path)
    if not raw.strip():
        raise DataError(f"file {str(path)!r} is empty", fix="point the spec at a file with rows")
    wide = raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))  # UTF-16/32
    if b"\x00" in raw[:8192] and not wide:
        raise DataError(f"file {str(path)!r} looks binary, not text", fix="check the path/format")
    return decode(raw, encoding, where=str(path))


def _read_bytes(path: Path) -> bytes:
    import bz2
    import gzip
    import lzma

    openers: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    opener = openers.get(path.suffix.lower())
    try:
        if opener is None:
            return path.read_bytes()
        with opener(path, "rb") as fh:
            data: bytes = fh.read()
            return data
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}", fix="check the file") from None


def _text_notes(decoded: Decoded) -> dict[str, Any]:
    return {NOTE_KEY: {"encoding": decoded.encoding, "truncated_bytes": decoded.truncated_bytes}}


@SOURCES.register("csv")
def read_csv(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _read_delimited(source, ",")


@SOURCES.register("tsv")
def read_tsv(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _read_delimited(source, "\t")


def _read_delimited(source: SourceSpec, sep: str) -> Iterator[dict[str, Any]]:
    decoded = read_text(source.path, source.encoding)
    items = read_delimited(decoded.text, sep, str(source.path), source.columns)
    yield from attach_notes(chain([_text_notes(decoded)], items))


@SOURCES.register("jsonl")
def read_jsonl(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from attach_notes(_jsonl_items(source))


def _jsonl_items(source: SourceSpec) -> Iterator[dict[str, Any]]:
    decoded = read_text(source.path, source.encoding)
    yield _text_notes(decoded)
    blank = 0
    for number, line in enumerate(split_lines(decoded.text), start=1):
        if not line.strip():
            blank += 1
            continue
        where = f"{source.path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _error(f"line {number} is not valid JSON ({exc.msg})", "invalid_json", where)
            continue
        if not isinstance(row, dict):
            yield _error(f"line {number} is not a JSON object", "not_an_object", where)
            continue
        row[LINE_KEY] = number
        yield row
    yield {NOTE_KEY: {"blank_lines": blank}}


def _error(message: str, reason: str, where: str) -> dict[str, Any]:
    line = int(where.rsplit(":", 1)[1])
    return {ERROR_KEY: message, "reason": reason, "where": where, LINE_KEY: line}


@SOURCES.register("parquet")
def read_parquet(source: SourceSpec) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source.path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"cannot read parquet {str(source.path)!r}: {exc}") from None
    yield from table.to_pylist()


@dataclass
class ReadTally:
    """What reading one source did with each physical record: read it or rejected it (why,
    on which lines), plus blank lines, the encoding and rows flagged as implausible."""

    key: str
    path: str
    format: str = ""
    encoding: str | None = None
    truncated_bytes: int = 0
    records: int = 0
    read: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_lines: dict[str, list[int]] = field(default_factory=dict)
    blank_lines: int = 0
    literal_quote_lines: list[int] = field(default_factory=list)
    literal_quotes: int = 0
    long_rows: list[dict[str, int]] = field(default_factory=list)
    limited: bool = False  # reading stopped at data.max_rows
    _sizes: list[tuple[int, int, int, int]] = field(default_factory=list, repr=False)

    def note(self, facts: dict[str, Any]) -> None:
        for name, value in facts.items():
            if name == "literal_quotes":
                self.literal_quotes += len(value)
                room = MAX_LINES_LISTED - len(self.literal_quote_lines)
                self.literal_quote_lines.extend(int(line) for line in value[: max(room, 0)])
            elif name == "blank_lines":
                self.blank_lines += int(value)
            else:
                setattr(self, name, value)

    def reject(self, reason: str, line: int | None) -> None:
        self.records += 1
        self.rejected[reason] += 1
        listed = self.rejected_lines.setdefault(reason, [])
        if line is not None and len(listed) < MAX_LINES_LISTED:
            listed.append(line)

    def accept(self, chars: int, first: int | None, last: int | None) -> None:
        """A record read; formats without lines (Parquet, documents) give no line numbers."""
        self.records += 1
        self.read += 1
        self._sizes.append((chars, self.records, first or 0, last or 0))

    def flag_long_rows(self) -> None:
        """Rows far longer than the file's median, or spanning many lines: likely misparsed."""
        if not self._sizes:
            return
        lengths = sorted(size for size, *_ in self._sizes)
        limit = max(LONG_ROW_FACTOR * lengths[len(lengths) // 2], LONG_ROW_MIN_CHARS)
        self.long_rows = [
            {"record": record, "line": first, "lines": last - first + 1, "chars": chars}
            for chars, record, first, last in self._sizes
            if chars > limit or last - first + 1 > LONG_ROW_MAX_LINES
        ]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        out["rejected"] = dict(self.rejected.most_common())
        return out


def read_records(
    source: SourceSpec,
    *,
    key: str = "data.source",
    strict: bool = True,
    max_bad_fraction: float = 0.1,
    tally: ReadTally | None = None,
) -> Generator[Record, None, None]:
    """Stream Records from a source, checking that the named columns exist.

    `strict` (the default for one-off readers) raises on the first unreadable row. Otherwise
    it comes out as a dropped Record (reason `bad_row`, the error in meta) for the caller to
    count, and the source is rejected only when more than `max_bad_fraction` of rows are bad.
    `tally`, when given, accounts for every record (see ReadTally).
    """
    load_readers()
    fmt = source.format if source.format != "auto" else infer_format(source.path)
    reader = SOURCES.get(fmt, key=f"{key}.format")
    tally = tally or ReadTally(key, str(source.path))
    tally.format = fmt
    checked, number, first_bad = False, 0, None
    try:
        for row in reader(source):
            tally.note(row.pop(NOTE_KEY, {}))
            if not row:  # a third-party reader's note-only item
                continue
            first, last = _lines(row.pop(LINE_KEY, None))
            if ERROR_KEY in row:
                first_bad = first_bad or row
                tally.reject(str(row.get("reason") or "unreadable"), first)
                if strict:
                    raise DataError(
                        str(row[ERROR_KEY]),
                        where=str(row.get("where") or row.get("path") or source.path),
                        fix="repair or remove that row, or set data.strict: false to reject "
                        "and go on",
                    )
                yield Record(text="", row=number, meta=_error_meta(row), dropped="bad_row")
            else:
                if not checked:
                    _check_columns(row, source, key)
                    checked = True
                record = _to_record(row, number, source)
                tally.accept(len(record.text), first, last)
                yield record
            number += 1
    finally:
        tally.flag_long_rows()
    if tally.records == 0:
        raise DataError(
            f"{str(source.path)!r} has no rows", fix="point the spec at a file with rows"
        )
    bad = sum(tally.rejected.values())
    if first_bad is not None and bad / tally.records > max_bad_fraction:
        raise _bad_row_error(first_bad, bad, tally.records)


def _lines(value: Any) -> tuple[int | None, int | None]:
    if isinstance(value, tuple | list):
        return int(value[0]), int(value[1])
    return (int(value), int(value)) if value is not None else (None, None)


def _error_meta(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "error": row[ERROR_KEY],
        "reject_reason": row.get("reason") or "unreadable",
        "where": row.get("where") or row.get("path"),
    }


def _bad_row_error(row: dict[str, Any], bad: int, total: int) -> DataError:
    return DataError(
        f"{bad} of {total} rows cannot be read; first: {row[ERROR_KEY]}",
        where=str(row.get("where") or row.get("path") or ""),
        fix="repair or remove those rows, or raise data.max_bad_fraction to reject and go on",
    )


def _to_record(row: dict[str, Any], number: int, source: SourceSpec) -> Record:
    label = row.get(source.label_column) if source.label_column else None
    text = row.get(source.text_column)
    pair = row.get(source.pair_column) if source.pair_column else None
    named = (source.text_column, source.label_column, source.pair_column)
    meta = {k: v for k, v in row.items() if k not in named}
    return Record(
        text="" if text is None else str(text),
        label=None if label is None or label == "" else str(label),
        row=number,
        meta=meta,
        pair=None if source.pair_column is None else "" if pair is None else str(pair),
    )


def _check_columns(row: dict[str, Any], source: SourceSpec, key: str) -> None:
    available = ", ".join(map(str, row)) or "none"
    for name, column in (
        ("text_column", source.text_column),
        ("label_column", source.label_column),
        ("pair_column", source.pair_column),
    ):
        if column is not None and column not in row:
            raise DataError(
                f"column {column!r} not found in {source.path} (columns: {available})",
                where=f"{key}.{name}",
                fix=f"set {key}.{name} to one of the columns",
            )
