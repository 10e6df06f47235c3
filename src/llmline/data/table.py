"""Write Records back out as JSONL or Parquet (chosen by extension) for the `data` verbs.

Columns: `text`, `label`, `source_row`, then every other column the source had; internal
bookkeeping keys (leading underscore, `dropped_by`) stay out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llmline.data.record import Record
from llmline.errors import DataError
from llmline.lineage import atomic_path

_INTERNAL = frozenset({"dropped_by"})


def record_row(record: Record) -> dict[str, Any]:
    row: dict[str, Any] = {"text": record.text, "label": record.label, "source_row": record.row}
    for key, value in record.meta.items():
        if not key.startswith("_") and key not in _INTERNAL and key not in row:
            row[key] = value
    if record.dropped is not None:
        row["reason"] = record.dropped
    return row


def write_table(records: Iterable[Record], path: Path) -> int:
    """Write rows atomically; returns how many were written."""
    rows = [record_row(r) for r in records]
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(dict.fromkeys(k for row in rows for k in row)) or ["text"]
        table = pa.table({c: [_scalar(row.get(c)) for row in rows] for c in columns})
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
    elif suffix in (".jsonl", ".json"):
        with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    else:
        raise DataError(
            f"cannot tell the output format of {str(path)!r}",
            where="--output",
            fix="end the output path in .jsonl or .parquet",
        )
    return len(rows)


def _scalar(value: Any) -> Any:
    """Parquet columns need one type: nested values are stored as JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value
