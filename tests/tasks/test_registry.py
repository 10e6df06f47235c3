"""A sixth task is one module: registering a Task makes its name, its task_config block, its
metrics (for gates and hpo) and its reference docs valid, with no central file touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from llmline.errors import SpecError
from llmline.spec import StrictModel, explain, validate_spec
from llmline.tasks import TASKS, ReadOptions, Task, load_tasks


class PairConfig(StrictModel):
    """A toy pair task's own settings."""

    pair_column: str = Field("text_b", description="Column with the second text of a pair.")


def _unused(*args: Any) -> Any:
    raise AssertionError("not called in this test")


@pytest.fixture()
def pair_task(monkeypatch: pytest.MonkeyPatch) -> Task:
    task = Task(
        name="toy_pair", config=PairConfig, metrics=("accuracy", "f1", "auc"), primary="auc",
        greater_is_better=True, build=_unused, save=_unused, load_predictor=_unused,
        read_snapshot=_unused, read_file=_unused, evaluate=_unused, write_report=_unused,
        peft_task_type="SEQ_CLS", routes=("classify",),
    )  # fmt: skip
    load_tasks()
    monkeypatch.setitem(TASKS._items, task.name, task)
    return task


def _raw(**extra: Any) -> dict[str, Any]:
    return {"name": "p", "task": "toy_pair", "data": {"source": {"path": __file__}}, **extra}


def test_a_registered_task_validates_its_block_and_gates(pair_task: Task) -> None:
    spec = validate_spec(_raw(task_config={"pair_column": "句子二"},
                              evaluate={"gates": [{"metric": "auc", "min": 0.9}]}))  # fmt: skip
    assert isinstance(spec.task_config, PairConfig) and spec.task_config.pair_column == "句子二"
    with pytest.raises(SpecError, match="its metrics are accuracy, f1, auc"):
        validate_spec(_raw(evaluate={"gates": [{"metric": "entity_f1", "min": 0.9}]}))
    with pytest.raises(SpecError, match="pair_colum: unknown key"):
        validate_spec(_raw(task_config={"pair_colum": "b"}))
    assert any("task_config.pair_column" in line and "[task toy_pair]" in line
               for line in explain())  # fmt: skip


def test_the_task_config_of_one_task_is_not_valid_for_another(pair_task: Task) -> None:
    with pytest.raises(SpecError, match=r"task_config: pair_column: unknown key \(task ner"):
        validate_spec({**_raw(task_config={"pair_column": "b"}), "task": "ner"})


def test_pair_column_reaches_the_readers_and_single_text_tasks_refuse_it(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from llmline.tasks.classification import read_file

    options = ReadOptions(pair_col="text_b")
    with pytest.raises(SpecError, match="--pair-col 'text_b': task classification scores one"):
        read_file(tmp_path / "x.csv", options, tiny_model_dir)
