"""Posts in: JSONL/CSV files (a directory watched for new ones, or a dated file to replay) and rows.

A bad line never stops a stream: it is counted and reported with its file and line number, and
the rest of the file is read. A file is read once, remembered by the sha256 of its bytes, so a
file copied in twice (or a watcher restarted) does not count its posts twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmline.errors import DataError

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
_PARTIAL = (".tmp", ".part", ".partial", ".crdownload")


@dataclass
class Post:
    """One post as it arrived: raw text (redacted later, before anything is stored)."""

    text: str
    ts: float
    origin: str  # file:line, or http
    author: str | None = None


@dataclass
class Malformed:
    where: str  # file:line
    reason: str


@dataclass
class FileBatch:
    path: Path
    sha256: str
    posts: list[Post] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)


def parse_time(value: Any) -> float:
    """Epoch seconds (or milliseconds) or an ISO 8601 string; naive times are UTC."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("no time")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            return stamp.timestamp()
    if number != number or number < 0:
        raise ValueError(f"time {value!r} is not a valid epoch")
    return number / 1000 if number > 1e11 else number  # milliseconds since the epoch


def post_from_row(
    row: Any, where: str, *, text_column: str, time_column: str, now: float | None
) -> Post:
    """A dict row -> Post; ValueError says what is wrong. `now` None means the time is required."""
    if not isinstance(row, dict):
        raise ValueError(f"a post must be an object, got {type(row).__name__}")
    text = row.get(text_column)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"no text in {text_column!r}")
    raw_time = row.get(time_column)
    if raw_time in (None, "") and now is not None:
        ts = now
    else:
        try:
            ts = parse_time(raw_time)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ValueError(f"bad {time_column!r} {raw_time!r} ({exc})") from None
    author = row.get("author")
    return Post(text.strip(), ts, where, str(author) if author is not None else None)


def read_file(
    path: Path, *, text_column: str = "text", time_column: str = "time", require_time: bool = False
) -> FileBatch:
    """Every well-formed post of a JSONL/JSON/CSV/TSV file, and every malformed line."""
    data = path.read_bytes()
    batch = FileBatch(path, hashlib.sha256(data).hexdigest())
    now = None if require_time else time.time()
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        batch.malformed.append(Malformed(f"{path}:1", f"not UTF-8 ({exc.reason})"))
        return batch
    for line, row, error in _rows(path, content):
        where = f"{path}:{line}"
        if error is None:
            try:
                row = post_from_row(
                    row, where, text_column=text_column, time_column=time_column, now=now
                )
                batch.posts.append(row)
                continue
            except ValueError as exc:
                error = str(exc)
        batch.malformed.append(Malformed(where, error))
    return batch


def _rows(path: Path, content: str) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed row, error) for each record of the file."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        yield from _csv_rows(content, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".json" and content.lstrip().startswith("["):
        try:
            rows = json.loads(content)
        except json.JSONDecodeError as exc:
            yield exc.lineno, None, f"invalid JSON ({exc.msg})"
            return
        for index, row in enumerate(rows):
            yield index + 1, row, None  # a JSON array has no lines: the row number stands in
    else:
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield number, None, f"invalid JSON ({exc.msg})"


def _csv_rows(content: str, delimiter: str) -> Iterator[tuple[int, Any, str | None]]:
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    try:
        for record in reader:
            if header is None:
                header = [h.strip() for h in record]
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                yield reader.line_num, None, f"{len(record)} fields, header has {len(header)}"
                continue
            yield reader.line_num, dict(zip(header, record, strict=True)), None
    except csv.Error as exc:
        yield reader.line_num, None, f"unreadable CSV ({exc}); the rest of the file is skipped"


def replay_posts(path: Path, *, text_column: str, time_column: str) -> FileBatch:
    """A dated file for replay, its posts in time order; a file without one good row fails."""
    if not path.is_file():
        raise DataError(f"replay file {str(path)!r} not found", fix="check --replay")
    batch = read_file(path, text_column=text_column, time_column=time_column, require_time=True)
    if not batch.posts:
        first = batch.malformed[0] if batch.malformed else None
        raise DataError(
            "no post with text and time to replay"
            + (f" (first problem at {first.where}: {first.reason})" if first else ""),
            where=str(path),
            fix=f"give every row {text_column!r} and {time_column!r} (ISO 8601 or epoch seconds)",
        )
    batch.posts.sort(key=lambda p: p.ts)
    return batch


def ready_files(directory: Path, pattern: str, *, settle_s: float = 1.0) -> list[Path]:
    """Files to read, oldest first: known suffix, not hidden or partial, unchanged `settle_s`."""
    if not directory.is_dir():
        raise DataError(
            f"watch directory {str(directory)!r} does not exist",
            fix="create it or correct watch.sources[].path",
        )
    now = time.time()
    found = []
    for path in directory.glob(pattern):
        name = path.name
        if name.startswith(".") or name.endswith(_PARTIAL) or not path.is_file():
            continue
        if path.suffix.lower() in SUFFIXES and now - path.stat().st_mtime >= settle_s:
            found.append(path)
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))
