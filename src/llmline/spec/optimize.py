"""The optimize link's spec: quantization, ONNX export, pruning and distillation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llmline.spec.base import StrictModel


class OptimizeSpec(StrictModel):
    """Compressed variants of the trained model, each measured and gated (`llmline optimize`)."""

    methods: list[str] = Field(
        default_factory=list,
        description="Registered optimize methods to run after evaluation, e.g. [onnx-int8, "
        "dynamic-int8, magnitude-prune, head-prune, neuron-prune, distill]; empty skips the "
        "stage.",
    )
    max_accuracy_drop: float = Field(
        0.01, ge=0, le=1, description="Gate: a variant may lose at most this much accuracy."
    )
    sparsity: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="magnitude-prune: share of the encoder's Linear weights zeroed (unstructured "
        "L1). Tensors keep their shape, so this changes accuracy only, not size or speed.",
    )
    heads_per_layer: int = Field(
        1,
        ge=1,
        description="head-prune: attention heads removed from every layer (each keeps at least "
        "one).",
    )
    head_share: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="head-prune: share of all attention heads removed, the least important "
        "across every layer, so layers keep different head counts (each at least one). Replaces "
        "heads_per_layer; set one of the two.",
    )
    neuron_share: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="neuron-prune: share of the FFN intermediate neurons removed, lowest weight "
        "norm first.",
    )
    neuron_scope: Literal["layer", "global"] = Field(
        "layer",
        description="neuron-prune: 'layer' removes neuron_share of every layer; 'global' removes "
        "the weakest neurons across all layers (scored against their layer's mean), so layers "
        "end up with different widths.",
    )
    prune_recover_epochs: float = Field(
        1.0,
        ge=0,
        description="Fine-tuning epochs on the train split after magnitude-, head- or "
        "neuron-prune, with the unpruned model as teacher (soft + gold labels, as in distill); "
        "0 turns it off. Skipped, with a note, when there is no train split.",
    )
    student_layers: int = Field(3, ge=1, description="Encoder layers of a distilled student.")
    distill_epochs: float = Field(1.0, gt=0, description="Distillation epochs on train split.")
    distill_temperature: float = Field(2.0, gt=0, description="Softmax temperature of KD.")
    latency_repeats: int = Field(30, ge=5, description="Timed calls per batch size.")
    max_perplexity_increase: float = Field(
        0.05,
        ge=0,
        description="Gate for causal LMs, beside max_accuracy_drop on exact match: a variant's "
        "answer perplexity may be at most this share above the original's (0.05 = 5 %).",
    )
    generation_rows: int | None = Field(
        200,
        ge=1,
        description="Causal LMs: validation conversations scored (exact match, perplexity) per "
        "variant, the first N; null scores them all.",
    )

    @model_validator(mode="after")
    def _one_head_count(self) -> OptimizeSpec:
        if self.head_share is not None and "heads_per_layer" in self.model_fields_set:
            raise ValueError(
                "optimize.head_share and optimize.heads_per_layer both set: head-prune removes "
                "either a share of all heads or a count per layer; keep one"
            )
        return self
