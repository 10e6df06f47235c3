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
# Modules whose readers register themselves; imported on first use to keep the CLI light.
READER_MODULES = ("llmline.data.documents", "llmline.data.labelstudio")
# A reader yields {ERROR_KEY: message, "where": ...} for a row it cannot read; read_records
# rejects and counts it (or aborts when strict), so one bad row never stops a long job silently.
ERROR_KEY = "__error__"

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
        where = f"{source.path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield {ERROR_KEY: f"line {number} is not valid JSON ({exc.msg})", "where": where}
            continue
        if not isinstance(row, dict):
            yield {ERROR_KEY: f"line {number} is not a JSON object", "where": where}
            continue
        yield row


@SOURCES.register("parquet")
def read_parquet(source: SourceSpec) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source.path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"cannot read parquet {str(source.path)!r}: {exc}") from None
    yield from table.to_pylist()


def read_records(
    source: SourceSpec,
    *,
    key: str = "data.source",
    strict: bool = True,
    max_bad_fraction: float = 0.1,
) -> Iterator[Record]:
    """Stream Records from a source, checking that the named columns exist.

    `strict` (the default for one-off readers) raises on the first unreadable row. Otherwise
    it comes out as a dropped Record (reason `bad_row`, the error in meta) for the caller to
    count, and the source is rejected only when more than `max_bad_fraction` of rows are bad.
    """
    import importlib

    for module in READER_MODULES:
        importlib.import_module(module)
    fmt = source.format if source.format != "auto" else infer_format(source.path)
    reader = SOURCES.get(fmt, key=f"{key}.format")
    checked, bad, total, first_bad = False, 0, 0, None
    for number, row in enumerate(reader(source)):
        total += 1
        if ERROR_KEY in row:
            bad += 1
            first_bad = first_bad or row
            if strict:
                raise DataError(
                    str(row[ERROR_KEY]),
                    where=str(row.get("where") or row.get("path") or source.path),
                    fix="repair or remove that row, or set data.strict: false to reject and go on",
                )
            yield Record(text="", row=number, meta=_error_meta(row), dropped="bad_row")
            continue
        if not checked:
            _check_columns(row, source, key)
            checked = True
        yield _to_record(row, number, source)
    if total == 0:
        raise DataError(
            f"{str(source.path)!r} has no rows", fix="point the spec at a file with rows"
        )
    if first_bad is not None and bad / total > max_bad_fraction:
        raise _bad_row_error(first_bad, bad, total)


def _error_meta(row: dict[str, Any]) -> dict[str, Any]:
    return {"error": row[ERROR_KEY], "where": row.get("where") or row.get("path")}


def _bad_row_error(row: dict[str, Any], bad: int, total: int) -> DataError:
    return DataError(
        f"{bad} of {total} rows cannot be read; first: {row[ERROR_KEY]}",
        where=str(row.get("where") or row.get("path") or ""),
        fix="repair or remove those rows, or raise data.max_bad_fraction to reject and go on",
    )


def _to_record(row: dict[str, Any], number: int, source: SourceSpec) -> Record:
    label = row.get(source.label_column) if source.label_column else None
    text = row.get(source.text_column)
    meta = {k: v for k, v in row.items() if k not in (source.text_column, source.label_column)}
    return Record(
        text="" if text is None else str(text),
        label=None if label is None or label == "" else str(label),
        row=number,
        meta=meta,
    )


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
