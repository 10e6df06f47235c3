"""`executor: ray`: run segments of row-local data steps as Ray Data `map_batches`.

The step runner decides what is row-local (each step says so when it registers) and hands
this module a picklable segment: a function from a batch of records to the records and the
steps' summaries. Steps that need the whole stream stay on the driver, so results match the
local executor. Each batch returns its summaries on its first row, and the driver sums them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from llmline.data.record import Record

BATCH_SIZE = 256
_SUMMARY = "__summaries__"
Segment = Callable[[list[Record]], tuple[list[Record], dict[str, Any]]]


def ensure_ray(workers: int | None = None) -> Any:
    """Start (or join) Ray; on one machine a local cluster with `workers` CPUs."""
    try:
        import ray
    except ImportError:
        from llmline.errors import SpecError

        raise SpecError(
            "executor: ray needs Ray Data", where="executor", fix="pip install 'llmline[ray]'"
        ) from None
    if not ray.is_initialized():
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
            logging_level=logging.WARNING,
        )
    return ray


def _to_row(record: Record) -> dict[str, Any]:
    # Optional fields travel as JSON text: numpy batches would turn None into NaN.
    return {
        "text": record.text,
        "label": json.dumps(record.label),
        "row": record.row,
        "meta": json.dumps(record.meta, default=str),
        "dropped": json.dumps(record.dropped),
        "pair": json.dumps(record.pair),
    }


def _from_row(row: dict[str, Any]) -> Record:
    return Record(
        text=str(row["text"]),
        label=json.loads(row["label"]),
        row=int(row["row"]),
        meta=json.loads(row["meta"]),
        dropped=json.loads(row["dropped"]),
        pair=json.loads(row["pair"]),
    )


def _apply(batch: dict[str, Any], segment: Segment) -> dict[str, Any]:
    """Worker side: run the segment over the batch; its summaries ride on the first row."""
    rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
    records, summaries = segment([_from_row(_plain(r)) for r in rows])
    out = [_to_row(r) for r in records]
    columns = {k: [r[k] for r in out] for k in ("text", "label", "row", "meta", "dropped", "pair")}
    columns[_SUMMARY] = [json.dumps(summaries)] + [""] * (len(out) - 1)
    return columns


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def run_on_ray(
    records: Iterable[Record], segment: Segment, summaries: dict[str, Any]
) -> Iterator[Record]:
    """Stream records through the segment on Ray, in input order; sums summaries into
    `summaries`."""
    ray = ensure_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False  # llmline's own bar and summary line report progress
    dataset = ray.data.from_items([_to_row(r) for r in records])
    dataset = dataset.map_batches(
        _apply, fn_kwargs={"segment": segment}, batch_size=BATCH_SIZE, batch_format="numpy"
    )
    for row in dataset.iter_rows():
        if row[_SUMMARY]:
            _add(summaries, json.loads(row[_SUMMARY]))
        yield _from_row(_plain({k: v for k, v in row.items() if k != _SUMMARY}))


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Sum nested counters (PII by type, augmented rows by op) across batches."""
    for key, value in part.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        else:
            total.setdefault(key, value)
