"""CSV and TSV records with their line numbers; a record that does not fit is rejected, not merged.

Python's csv module, given a stray `"` at the start of a field, reads on to the next quote
anywhere in the file: one review with an unbalanced quote swallowed 454 following ChnSentiCorp
reviews into one 41,866-character "row". So:

- TSV is read line by line, and a quote is literal unless the field is really quoted (starts
  and ends with `"`, inner `""` meaning one quote). TSV has no escaped tabs or newlines.
- CSV follows RFC 4180 (quoted fields may hold delimiters and newlines), parsed strictly. When a
  record cannot be parsed, or comes out with the wrong number of columns, only its first line
  is dealt with: read with its quotes taken literally if that gives the header's columns, else
  rejected; parsing resumes on the next line, so nothing after it is lost.

Every physical record comes out as a row (with its first and last line) or an error row with a
reason; blank lines are counted, not read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

# Row keys the generic reader understands (see sources.read_records).
ERROR_KEY = "__error__"
LINE_KEY = "__line__"
NOTE_KEY = "__note__"


def split_lines(text: str) -> list[str]:
    """Physical lines, split on LF (or CR alone, old Mac files), line endings removed.

    Not `str.splitlines`: it also splits on U+2028, form feeds and other separators that
    occur inside fields.
    """
    if "\n" not in text and "\r" in text:
        return text.split("\r")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def attach_notes(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Fold note-only items into the next row (the last one, at the end of the file).

    Code that iterates a registered reader directly (chat and NER data) then sees only rows,
    with two extra keys it ignores; read_records takes the notes off into its tally.
    """
    notes: dict[str, Any] = {}
    last: dict[str, Any] | None = None
    for item in items:
        if NOTE_KEY in item and len(item) == 1:
            _merge(notes, item[NOTE_KEY])
            continue
        if last is not None:
            yield last
        last, notes = ({**item, NOTE_KEY: notes} if notes else item), {}
    if last is not None:
        if notes:
            _merge(last.setdefault(NOTE_KEY, {}), notes)
        yield last


def _merge(notes: dict[str, Any], facts: dict[str, Any]) -> None:
    for name, value in facts.items():
        if name == "blank_lines":
            notes[name] = notes.get(name, 0) + value
        elif name == "literal_quotes":
            notes[name] = [*notes.get(name, []), *value]
        else:
            notes[name] = value


def read_delimited(
    text: str, sep: str, where: str, columns: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Rows keyed by the header (first non-blank line), each with LINE_KEY = (first, last).

    `columns` names the columns of a file without a header line (LCQMC's TSV): its first line
    is then a row. Note-only items (NOTE_KEY) carry the count of blank lines and the lines
    whose quotes were taken literally, for the data report; `attach_notes` folds them into rows.
    """
    lines = split_lines(text)
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if start == len(lines):
        return
    if columns is None:
        header, first_row = _header(lines[start], sep), start + 1
    else:
        header, first_row = list(columns), start
    blank = start
    records = _tsv(lines, first_row) if sep == "\t" else _csv(lines, first_row, sep, len(header))
    for first, last, fields, literal in records:
        if fields is None:
            blank += 1
            continue
        if literal:
            yield {NOTE_KEY: {"literal_quotes": [first]}}
        yield _row(header, fields, first, last, where)
    yield {NOTE_KEY: {"blank_lines": blank}}


def _header(line: str, sep: str) -> list[str]:
    fields = next(csv.reader([line], delimiter=sep)) if sep != "\t" else _tsv_fields(line)
    if fields:
        fields[0] = fields[0].lstrip("\ufeff")  # a second BOM, e.g. from concatenated exports
    return fields


def _row(header: list[str], fields: list[str], first: int, last: int, where: str) -> dict[str, Any]:
    if len(fields) != len(header) and not _fits(fields, len(header)):
        reason = "too_few_columns" if len(fields) < len(header) else "too_many_columns"
        span = f"line {first}" if first == last else f"lines {first}-{last}"
        return {
            ERROR_KEY: f"{span} has {len(fields)} columns, the header has {len(header)}",
            "reason": reason,
            "where": f"{where}:{first}",
            LINE_KEY: (first, last),
        }
    row: dict[str, Any] = dict(zip(header, fields, strict=False))
    row[LINE_KEY] = (first, last)
    return row


def _tsv_fields(line: str) -> list[str]:
    return [_unquote(field) for field in line.split("\t")]


def _unquote(field: str) -> str:
    if len(field) >= 2 and field[0] == field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


Parsed = tuple[int, int, list[str] | None, bool]  # first line, last line, fields, literal quotes


def _tsv(lines: list[str], start: int) -> Iterator[Parsed]:
    for index in range(start, len(lines)):
        line = lines[index]
        if '"' not in line:  # the common case, kept fast
            yield index + 1, index + 1, (line.split("\t") if line.strip() else None), False
            continue
        raw = line.split("\t")
        literal = any(f[:1] == '"' and (len(f) < 2 or f[-1] != '"') for f in raw)
        yield index + 1, index + 1, [_unquote(f) for f in raw], literal


def _csv(lines: list[str], start: int, sep: str, width: int) -> Iterator[Parsed]:
    """(first line, last line, fields, literal) per record; resumes after one that does not fit."""
    position = start
    while position < len(lines):
        reader = csv.reader(_feed(lines, position), delimiter=sep, strict=True)
        consumed = 0
        try:
            for fields in reader:
                first, consumed = position + consumed + 1, reader.line_num
                last = position + consumed
                if first < last and not _fits(fields, width):
                    yield first, first, _literal(lines[first - 1], sep), True
                    position = first
                    break
                blank = first == last and not lines[first - 1].strip()
                yield first, last, (None if blank else fields), False
            else:
                return
        except csv.Error:
            first = position + consumed + 1
            yield first, first, _literal(lines[first - 1], sep), True
            position = first


def _feed(lines: list[str], start: int) -> Iterator[str]:
    for index in range(start, len(lines)):
        yield lines[index] + "\n"


def _fits(fields: list[str], width: int) -> bool:
    return len(fields) == width or (len(fields) > width and not "".join(fields[width:]).strip())


def _literal(line: str, sep: str) -> list[str]:
    """One line read with quotes taken literally unless a field is really quoted."""
    return [_unquote(field) for field in line.split(sep)]
