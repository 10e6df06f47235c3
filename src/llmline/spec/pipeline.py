"""The root of the spec: one chain, data -> train -> evaluate -> register, and its links."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from llmline.spec.assistant import AssistantSpec
from llmline.spec.base import StrictModel
from llmline.spec.data import DataSpec
from llmline.spec.evaluate import EvaluateSpec, RegistrySpec
from llmline.spec.govern import GovernSpec
from llmline.spec.kb import KbSpec
from llmline.spec.monitor import MonitorSpec, RetrainSpec
from llmline.spec.optimize import OptimizeSpec
from llmline.spec.serve import ServeSpec
from llmline.spec.train import HpoSpec, TrainSpec
from llmline.spec.watch import WatchSpec

# Tasks whose base model answers by itself, so it can be scored before tuning.
COMPARABLE_BASE_TASKS = ("causal_lm", "embedding")  # an untuned encoder embeds as it is


class PipelineSpec(StrictModel):
    """A whole chain: data -> train -> evaluate -> register."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][\w.-]*$", description="Run and model name.")
    description: str = ""
    task: str = Field(
        "classification",
        description="Task: classification, ner, causal_lm, mlm, causal_lm_pretrain (and any "
        "task module registered in llmline.tasks).",
    )
    task_config: Any = Field(
        default_factory=dict,
        validate_default=True,  # absent: the task's defaults, as its config model
        description="Settings only the chosen task has (see the task_config (TASK) keys below).",
    )
    seed: int = 42
    workspace: Path | None = Field(None, description="Workspace dir; CLI --workspace wins.")
    executor: Literal["local", "ray"] = "local"
    variables: dict[str, str] = Field(
        default_factory=dict, description="Defaults for ${NAME} placeholders; --var overrides."
    )
    data: DataSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    hpo: HpoSpec | None = Field(None, description="Search space for `llmline hpo`.")
    govern: GovernSpec = Field(default_factory=GovernSpec)
    optimize: OptimizeSpec = Field(default_factory=OptimizeSpec)
    serve: ServeSpec = Field(default_factory=ServeSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    kb: KbSpec | None = Field(None, description="Knowledge base built by `llmline kb build`.")
    watch: WatchSpec | None = Field(None, description="Stream monitoring (`llmline watch`).")
    assistant: AssistantSpec | None = Field(
        None, description="Customer-service assistant (`llmline kb ask`, POST /v1/assistant)."
    )

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        from llmline.errors import SpecError
        from llmline.tasks import load_tasks

        try:
            load_tasks().get(value)
        except SpecError as exc:
            raise ValueError(f"{exc.what}; {exc.fix}") from None
        return value

    @field_validator("task_config")
    @classmethod
    def _task_config(cls, value: Any, info: ValidationInfo) -> Any:
        """Validated against the chosen task's own config model."""
        from llmline.tasks import load_tasks

        name = info.data.get("task")
        if name is None:  # the task itself was invalid; that error is reported
            return value
        model = load_tasks().get(name).config
        if isinstance(value, model):
            return value
        try:
            return model.model_validate(value or {})
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"])
                msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                problems.append(f"{key}: {msg.removeprefix('Value error, ')}")
            allowed = ", ".join(sorted(model.model_fields)) or "none"
            raise ValueError(f"{'; '.join(problems)} (task {name} allows: {allowed})") from None

    @field_validator("evaluate")
    @classmethod
    def _gates_name_task_metrics(cls, value: EvaluateSpec, info: ValidationInfo) -> EvaluateSpec:
        from llmline.tasks import load_tasks

        name = info.data.get("task")
        if name is None:
            return value
        if value.compare_base and name not in COMPARABLE_BASE_TASKS:
            raise ValueError(
                f"compare_base: the base model of a {name} run has no trained head to score; "
                f"it works for {', '.join(COMPARABLE_BASE_TASKS)}"
            )
        metrics = load_tasks().get(name).metrics
        for index, gate in enumerate(value.gates):
            if gate.metric not in metrics:
                raise ValueError(
                    f"gates[{index}].metric: task {name} does not report {gate.metric!r}; "
                    f"its metrics are {', '.join(metrics)}"
                )
        return value

    @field_validator("hpo")
    @classmethod
    def _hpo_metric_of_task(cls, value: HpoSpec | None, info: ValidationInfo) -> HpoSpec | None:
        from llmline.tasks import load_tasks

        name = info.data.get("task")
        if value is None or name is None:
            return value
        metrics = load_tasks().get(name).metrics
        if value.metric not in metrics:
            raise ValueError(
                f"metric: task {name} does not report {value.metric!r}; "
                f"its metrics are {', '.join(metrics)}"
            )
        return value

    @model_validator(mode="after")
    def _files_exist(self) -> PipelineSpec:
        for key, source in (
            ("data.source", self.data.source),
            ("data.validation", self.data.validation),
        ):
            if source is not None and not source.path.exists():
                raise ValueError(
                    f"{key}.path: file {str(source.path)!r} does not exist "
                    "(relative paths are read from the directory you run llmline in)"
                )
        if (
            self.task == "classification"
            and self.data.validation is None
            and self.data.source.label_column is None
        ):
            raise ValueError("data.source.label_column: a classifier needs a label column")
        return self

    @property
    def model_name(self) -> str:
        return self.registry.name or self.name
