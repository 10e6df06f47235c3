"""The evaluate and register links' spec: gates on the task's metrics, the registry target."""

from __future__ import annotations

from pydantic import Field

from llmline.spec.base import StrictModel


class GateSpec(StrictModel):
    """Thresholds a model must meet before it may become the registry's champion."""

    min_accuracy: float | None = Field(None, ge=0, le=1)
    min_macro_f1: float | None = Field(None, ge=0, le=1)
    max_perplexity: float | None = Field(
        None, gt=1, description="Highest validation perplexity (tasks mlm, causal_lm_pretrain)."
    )


class EvaluateSpec(StrictModel):
    gates: GateSpec = Field(default_factory=GateSpec)
    batch_size: int = Field(128, gt=0)


class RegistrySpec(StrictModel):
    """Where the model version is registered (MLflow; embedded SQLite in the workspace)."""

    name: str | None = Field(
        None, description="Registered model name; null uses the spec name.", pattern=r"^[\w.-]+$"
    )
    alias: str = Field("champion", description="Alias set only when every gate passes.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; null uses <workspace>/mlflow.db."
    )
