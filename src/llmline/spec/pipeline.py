"""The root of the spec: one chain, data -> train -> evaluate -> register, and its links."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

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


class PipelineSpec(StrictModel):
    """A whole chain: data -> train -> evaluate -> register."""

    name: str = Field(pattern=r"^[a-zA-Z0-9][\w.-]*$", description="Run and model name.")
    description: str = ""
    task: str = Field("classification", description="Task head, e.g. classification.")
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
