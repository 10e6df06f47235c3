"""The task registry: `task: NAME` in the spec picks one `Task`, registered once by its module.

A Task bundles, as plain functions and values, everything the chain needs to know about one
kind of model: its `task_config` block, data preparation, how to build what the shared `fit()`
trains, its metrics (with the primary one and its direction), saving, the predictor loader,
the evaluator, the file reader of `llmline evaluate --data`, and the routes it serves. Adding a
task is one module under `llmline/tasks/` that calls `TASKS.register(Task(...))`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmline.variants import Registry

if TYPE_CHECKING:
    from pydantic import BaseModel

    from llmline.data.stage import DataArtifact
    from llmline.models.predictor import Predictor
    from llmline.spec import PipelineSpec
    from llmline.train.prepared import Prepared
    from llmline.workspace import Workspace


@dataclass(frozen=True)
class ReadOptions:
    """How `llmline evaluate --data FILE` reads a file; each task uses what applies to it."""

    format: str | None = None  # inferred from the extension and content when None
    text_col: str = "text"
    label_col: str = "label"
    pair_col: str | None = None  # the second text of a pair (pair tasks)


@dataclass(frozen=True)
class Task:
    name: str
    config: type[BaseModel]
    """The `task_config` block (task-only settings), validated with the spec."""
    metrics: tuple[str, ...]
    """Metric names the evaluator reports; gates may name these."""
    primary: str
    greater_is_better: bool
    build: Callable[[PipelineSpec, DataArtifact, Workspace, str | None], Prepared]
    """(spec, data, workspace, resume checkpoint) -> what fit() trains."""
    save: Callable[[Prepared, Any, PipelineSpec, Path, dict[str, Any]], dict[str, Any]]
    """(prepared, trainer, spec, model dir, metrics): writes weights, tokenizer and
    llmline_model.json; returns metrics to add (paths of extra outputs, sizes)."""
    load_predictor: Callable[[Path], Predictor]
    read_snapshot: Callable[[Path], Any]
    """Rows of a data-stage snapshot (validation.parquet), as the evaluator takes them."""
    read_file: Callable[[Path, ReadOptions, Path], Any]
    """(file, options, model dir) -> rows, for `llmline evaluate --data`; the model dir gives
    the run's label map."""
    evaluate: Callable[[Path, Any, EvalOptions], dict[str, Any]]
    """(model dir, rows, options) -> report with `metrics` and `primary` (plus details)."""
    write_report: Callable[[dict[str, Any], Path], None]
    prepare_data: Callable[[PipelineSpec, Path], DataArtifact] | None = None
    """None: the generic data stage (one label per text)."""
    peft_task_type: str | None = None
    """peft's TaskType for train.peft; None: the task refuses adapters."""
    routes: tuple[str, ...] = field(default_factory=tuple)
    """Serving route modules (llmline.serve.routes.*) that serve this task's models."""


@dataclass(frozen=True)
class EvalOptions:
    batch_size: int = 128
    seed: int = 42


TASKS: Registry[Task] = Registry("task")

BUILTIN_TASK_MODULES = (
    "llmline.tasks.classification",
    "llmline.tasks.ner",
    "llmline.tasks.causal_lm",
    "llmline.tasks.mlm",
    "llmline.tasks.causal_lm_pretrain",
    "llmline.tasks.pair_classification",
    "llmline.tasks.embedding",
)


def register(task: Task) -> Task:
    return TASKS.register(task.name)(task)


def load_tasks() -> Registry[Task]:
    """Import the built-in task modules so they register themselves."""
    for module in BUILTIN_TASK_MODULES:
        importlib.import_module(module)
    return TASKS


def get_task(name: str, *, key: str = "task") -> Task:
    return load_tasks().get(name, key=key)


C = TypeVar("C")


def task_config(spec: PipelineSpec, kind: type[C]) -> C:
    """The spec's validated task_config block, typed as the task's config model."""
    config = spec.task_config
    if not isinstance(config, kind):  # a spec built without validation (model_construct)
        config = kind.model_validate(config or {})  # type: ignore[attr-defined]
    return config
