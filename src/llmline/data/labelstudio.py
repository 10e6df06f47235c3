"""Label Studio round trip: export tasks (with model pre-labels) and import annotations.

Uses Label Studio's documented JSON task format (`data`, `predictions`, `annotations` with
`choices` results) so no Label Studio package is needed on either side.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llmline.data.record import Record
from llmline.data.sources import ERROR_KEY, SOURCES
from llmline.errors import DataError
from llmline.lineage import write_text_atomic
from llmline.spec import SourceSpec

FROM_NAME, TO_NAME = "label", "text"


def labeling_config(labels: Sequence[str]) -> str:
    """The Label Studio labeling interface (XML) matching the exported tasks."""
    choices = "\n".join(f'    <Choice value="{label}"/>' for label in labels)
    return (
        f'<View>\n  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single">\n'
        f"{choices}\n  </Choices>\n</View>\n"
    )


def _choice_result(label: str, score: float | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "choices",
        "value": {"choices": [label]},
    }
    if score is not None:
        result["score"] = round(score, 4)
    return result


def export_tasks(
    records: Sequence[Record],
    path: Path,
    *,
    predictions: Sequence[tuple[str, float] | None] | None = None,
    model_version: str = "llmline",
) -> Path:
    """Write an import-ready task list; pre-labels go in as `predictions`, never as answers."""
    tasks = []
    for index, record in enumerate(records):
        data = {"text": record.text, "source_row": record.row}
        data.update({k: v for k, v in record.meta.items() if _jsonable(v)})
        task: dict[str, Any] = {"id": index + 1, "data": data}
        guess = predictions[index] if predictions is not None else None
        if guess is not None:
            label, score = guess
            task["predictions"] = [
                {"model_version": model_version, "score": round(score, 4),
                 "result": [_choice_result(label, score)]}
            ]  # fmt: skip
        tasks.append(task)
    write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1))
    return path


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def annotation_label(task: dict[str, Any]) -> str | None:
    """The label of the most recent non-cancelled annotation of a task, if any."""
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    annotations.sort(key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))
    for annotation in reversed(annotations):
        for result in annotation.get("result") or []:
            choices = (result.get("value") or {}).get("choices")
            if choices:
                return str(choices[0])
    return None


@SOURCES.register("label_studio")
def read_label_studio(source: SourceSpec) -> Iterator[dict[str, Any]]:
    """Rows from a Label Studio JSON export: task data plus the annotated label."""
    from llmline.data.sources import open_text

    try:
        tasks = json.loads(open_text(source.path, source.encoding))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"Label Studio export is not valid JSON ({exc.msg})",
            where=f"{source.path}:{exc.lineno}",
            fix="export again as JSON from Label Studio",
        ) from None
    if not isinstance(tasks, list):
        raise DataError("a Label Studio export is a JSON list of tasks", where=str(source.path))
    for number, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            yield {
                ERROR_KEY: f"task {number} has no 'data' object",
                "reason": "task_without_data",
                "where": str(source.path),
            }
            continue
        row = dict(task["data"])
        row["label"] = annotation_label(task)
        row["task_id"] = task.get("id")
        yield row
