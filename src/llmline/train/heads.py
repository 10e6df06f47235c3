"""The registry of task heads: `task: NAME` in the spec picks the training function here.

A head module registers `train(spec, data, out_dir, workspace) -> TrainResult` once; importing
`llmline.train.heads.load_heads()` pulls in every built-in head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmline.variants import Registry

if TYPE_CHECKING:
    from llmline.data.stage import DataArtifact
    from llmline.spec import PipelineSpec
    from llmline.workspace import Workspace


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    steps: int = 0


TrainFn = Callable[["PipelineSpec", "DataArtifact", Path, "Workspace"], TrainResult]
TASK_HEADS: Registry[TrainFn] = Registry("task")

# Tasks whose data is not one label per text (NER tags, chat turns) register their own data
# preparation and evaluation; tasks that do not keep the generic classification ones.
DataFn = Callable[["PipelineSpec", Path], "DataArtifact"]
TASK_DATA: Registry[DataFn] = Registry("task data preparation")
EvaluateFn = Callable[["PipelineSpec", Path, Path, Path], dict[str, Any]]
"""(spec, model_dir, validation snapshot, eval out_dir) -> report with rows, accuracy,
macro_f1, gates and passed (the keys the register stage reads)."""
TASK_EVALUATORS: Registry[EvaluateFn] = Registry("task evaluation")

BUILTIN_HEAD_MODULES = (
    "llmline.train.classification",
    "llmline.train.ner",
    "llmline.train.causal_lm",
    "llmline.train.mlm",
    "llmline.train.pretrain",
)


def load_heads() -> Registry[TrainFn]:
    """Import the built-in head modules so they register themselves."""
    import importlib

    for module in BUILTIN_HEAD_MODULES:
        importlib.import_module(module)
    return TASK_HEADS
