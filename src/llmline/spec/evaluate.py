"""The evaluate and register links' spec: gates on the task's metrics, the registry target."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from llmline.spec.base import StrictModel

# The mapping form of earlier versions: {min_accuracy: 0.9, max_perplexity: 80}.
LEGACY_GATES = {
    "min_accuracy": ("accuracy", "min"),
    "min_macro_f1": ("macro_f1", "min"),
    "max_perplexity": ("perplexity", "max"),
}


class GateSpec(StrictModel):
    """One threshold on one of the task's own metrics: `{metric: NAME, min: X}` or `max`."""

    metric: str = Field(
        description="A metric the task reports, e.g. accuracy, macro_f1 (classification), "
        "entity_f1 (ner), exact_match, rouge_l, perplexity (causal_lm).",
    )
    min: float | None = Field(None, description="The metric must be at least this.")
    max: float | None = Field(None, description="The metric must be at most this.")

    @model_validator(mode="after")
    def _one_bound(self) -> GateSpec:
        if (self.min is None) == (self.max is None):
            raise ValueError(f"gate on {self.metric!r}: give exactly one of min or max")
        return self

    @property
    def kind(self) -> str:
        return "min" if self.min is not None else "max"

    @property
    def threshold(self) -> float:
        value = self.min if self.min is not None else self.max
        assert value is not None
        return value


class EvaluateSpec(StrictModel):
    gates: list[GateSpec] = Field(
        default_factory=list,
        description="Promotion gates, e.g. [{metric: accuracy, min: 0.9}, {metric: perplexity, "
        "max: 80}]; a metric the task does not report is an error.",
    )
    batch_size: int = Field(128, gt=0)
    compare_base: bool = Field(
        False,
        description="Also score train.base_model on the same held-out rows with the same "
        "generation settings (causal_lm), so the report shows before and after tuning.",
    )

    @field_validator("gates", mode="before")
    @classmethod
    def _legacy_mapping(cls, value: Any) -> Any:
        """The earlier mapping form still reads: {min_accuracy: 0.9} is
        [{metric: accuracy, min: 0.9}]."""
        if not isinstance(value, dict):
            return value
        gates = []
        for key, threshold in value.items():
            if key not in LEGACY_GATES:
                raise ValueError(
                    f"unknown gate {key!r}: write gates as a list of {{metric: NAME, min: X}}"
                )
            if threshold is not None:
                metric, kind = LEGACY_GATES[key]
                gates.append({"metric": metric, kind: threshold})
        return gates


class RegistrySpec(StrictModel):
    """Where the model version is registered (MLflow; embedded SQLite in the workspace)."""

    name: str | None = Field(
        None, description="Registered model name; null uses the spec name.", pattern=r"^[\w.-]+$"
    )
    alias: str = Field("champion", description="Alias set only when every gate passes.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; null uses <workspace>/mlflow.db."
    )
