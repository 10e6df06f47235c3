"""`llmline data report`: profile one dataset without changing it.

Rows, labels, lengths, exact and near-duplicates, PII by type and (optionally) suspected label
errors, written with the same report writer the data stage uses.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from llmline.data.clean import dedup_key
from llmline.data.dedup import NearDedup, NearDedupSpec
from llmline.data.pii import find_pii, redact_text
from llmline.data.record import Record
from llmline.data.report import label_counts, length_stats, write_report


def profile_records(
    records: list[Record], out_dir: Path, *, threshold: float = 0.8, label_issues: bool = False
) -> dict[str, Any]:
    live = [r for r in records if r.dropped is None]
    keys = Counter(dedup_key(r.text) for r in live)
    copies = [Record(text=r.text, row=r.row) for r in live]  # mark clusters on copies only
    dedup = NearDedup(NearDedupSpec(threshold=threshold, action="keep"))
    list(dedup(copies))
    pii: Counter[str] = Counter()
    for record in live:
        pii.update(f.kind for f in find_pii(record.text))
    for example in dedup.examples:  # reports are written: examples are masked like datasets
        example["kept"] = redact_text(example["kept"])[0]
        example["duplicate"] = redact_text(example["duplicate"])[0]
    labels = sorted({str(r.label) for r in live if r.label is not None})
    report: dict[str, Any] = {
        "rows_in": len(records),
        "rows_out": len(live),
        "dropped": dict(Counter(str(r.dropped) for r in records if r.dropped).most_common()),
        "exact_duplicates": sum(n - 1 for n in keys.values()),
        "near_duplicates": dedup.duplicates,
        "pii_by_type": dict(pii.most_common()),
        "labels": labels,
        "label_counts": {"train": label_counts([r for r in live if r.label]), "validation": {}},
        "text_chars": length_stats(live),
        "step_summaries": {"near_dedup": dedup.summary},
    }
    if label_issues and len(labels) > 1:
        from llmline.data.active import find_label_issues

        labelled = [r for r in live if r.label is not None]
        report["label_issues"] = find_label_issues(
            [r.text for r in labelled], [str(r.label) for r in labelled]
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_report(report, out_dir, lengths=[len(r.text) for r in live])
    return report
