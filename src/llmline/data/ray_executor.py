"""`executor: ray`: run the row-local data steps as Ray Data `map_batches`.

Row-local steps (quality, redact in mask/hash mode, augment) run in parallel batches; steps
that need the whole stream (near_dedup, label-model rules, pseudonyms that must stay
consistent) stay on the driver, so results match the local executor. Each batch returns its
step summaries on its first row, and the driver sums them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from llmline.data.record import Record

BATCH_SIZE = 256
_SUMMARY = "__summaries__"


def is_row_local(name: str, options: dict[str, Any]) -> bool:
    if name in ("quality", "augment"):
        return True
    return name == "redact" and options.get("mode", "mask") != "pseudonym"


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
    }


def _from_row(row: dict[str, Any]) -> Record:
    return Record(
        text=str(row["text"]),
        label=json.loads(row["label"]),
        row=int(row["row"]),
        meta=json.loads(row["meta"]),
        dropped=json.loads(row["dropped"]),
    )


def _apply(batch: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Worker side: rebuild the steps, run them over the batch, mark who dropped what."""
    from llmline.data.steps import StepRun

    rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
    run = StepRun.build(steps)
    records = list(run.run(_from_row(_plain(r)) for r in rows))
    out = [_to_row(r) for r in records]
    columns = {k: [r[k] for r in out] for k in ("text", "label", "row", "meta", "dropped")}
    columns[_SUMMARY] = [json.dumps(run.summaries())] + [""] * (len(out) - 1)
    return columns


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def run_on_ray(
    records: Iterable[Record], steps: list[dict[str, Any]], summaries: dict[str, Any]
) -> Iterator[Record]:
    """Stream records through the steps on Ray, in input order; sums summaries into `summaries`."""
    ray = ensure_ray()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False  # llmline's own bar and summary line report progress
    dataset = ray.data.from_items([_to_row(r) for r in records])
    dataset = dataset.map_batches(
        _apply, fn_kwargs={"steps": steps}, batch_size=BATCH_SIZE, batch_format="numpy"
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
