"""Readers that turn a file into Records; each format registers itself by its short name."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llmline.data.record import Record
from llmline.errors import DataError
from llmline.spec import SourceSpec
from llmline.variants import Registry

Reader = Callable[[SourceSpec], Iterator[dict[str, Any]]]
SOURCES: Registry[Reader] = Registry("data format")

_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


def infer_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    if path.is_dir():
        return "text_dir"
    if suffixes and suffixes[-1] in _BY_SUFFIX:
        return _BY_SUFFIX[suffixes[-1]]
    raise DataError(
        f"cannot tell the format of {str(path)!r} from its extension",
        fix=f"set format: to one of {', '.join(SOURCES.names())}",
    )


def open_text(path: Path, encoding: str | None) -> str:
    """Read a possibly compressed text file, detecting the encoding when none is given."""
    raw = _read_bytes(path)
    if not raw.strip():
        raise DataError(f"file {str(path)!r} is empty", fix="point the spec at a file with rows")
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"file {str(path)!r} looks binary, not text", fix="check the path/format")
    if encoding:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DataError(
                f"file {str(path)!r} cannot be decoded as {encoding}: {exc}",
                fix="set source.encoding to the file's real encoding or null to detect it",
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _decode_detected(path, raw)


def _read_bytes(path: Path) -> bytes:
    import bz2
    import gzip
    import lzma

    openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    opener = openers.get(path.suffix.lower())
    try:
        if opener is None:
            return path.read_bytes()
        with opener(path, "rb") as fh:
            data: bytes = fh.read()
            return data
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}", fix="check the file") from None


def _decode_detected(path: Path, raw: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise DataError(
            f"file {str(path)!r} is not text in any encoding we can detect",
            fix="convert it to UTF-8 or set source.encoding",
        )
    return str(best)


@SOURCES.register("csv")
def read_csv(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _read_delimited(source, ",")


@SOURCES.register("tsv")
def read_tsv(source: SourceSpec) -> Iterator[dict[str, Any]]:
    yield from _read_delimited(source, "\t")


def _read_delimited(source: SourceSpec, sep: str) -> Iterator[dict[str, Any]]:
    import csv
    import io

    text = open_text(source.path, source.encoding)
    csv.field_size_limit(1 << 30)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=sep)
        yield from reader
    except csv.Error as exc:
        raise DataError(f"malformed {source.path}: {exc}", fix="check quoting") from None


@SOURCES.register("jsonl")
def read_jsonl(source: SourceSpec) -> Iterator[dict[str, Any]]:
    text = open_text(source.path, source.encoding)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"line {number} is not valid JSON ({exc.msg})",
                where=f"{source.path}:{number}",
                fix="repair or remove that line",
            ) from None
        if not isinstance(row, dict):
            raise DataError("each JSON line must be an object", where=f"{source.path}:{number}")
        yield row


@SOURCES.register("parquet")
def read_parquet(source: SourceSpec) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source.path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"cannot read parquet {str(source.path)!r}: {exc}") from None
    yield from table.to_pylist()


def read_records(source: SourceSpec, *, key: str = "data.source") -> Iterator[Record]:
    """Stream Records from a source, checking that the named columns exist."""
    fmt = source.format if source.format != "auto" else infer_format(source.path)
    reader = SOURCES.get(fmt, key=f"{key}.format")
    rows = reader(source)
    first = next(rows, None)
    if first is None:
        raise DataError(
            f"{str(source.path)!r} has no rows", fix="point the spec at a file with rows"
        )
    _check_columns(first, source, key)
    for number, row in enumerate(_chain(first, rows)):
        label = row.get(source.label_column) if source.label_column else None
        text = row.get(source.text_column)
        meta = {k: v for k, v in row.items() if k not in (source.text_column, source.label_column)}
        yield Record(
            text="" if text is None else str(text),
            label=None if label is None or label == "" else str(label),
            row=number,
            meta=meta,
        )


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _check_columns(row: dict[str, Any], source: SourceSpec, key: str) -> None:
    available = ", ".join(map(str, row)) or "none"
    for field, column in (
        ("text_column", source.text_column),
        ("label_column", source.label_column),
    ):
        if column is not None and column not in row:
            raise DataError(
                f"column {column!r} not found in {source.path} (columns: {available})",
                where=f"{key}.{field}",
                fix=f"set {key}.{field} to one of the columns",
            )
